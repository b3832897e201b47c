// A started datastore Session with no socket, for the micro benchmarks: its
// writer, a flush that drops what was written, and `run`, which hands it
// messages to the end and returns what it wrote as text.

import type { FrontendMessage } from "../../lib/pg/types.ts";
import { MessageWriter } from "../../lib/pg/wire.ts";
import { Session } from "../../services/datastore/session.ts";
import type { Database } from "../../services/datastore/sql/executor.ts";

export async function sessionOn(db: Database, processId = 1) {
  const session = new Session({ db, secret: null, processId, secretKey: 1 });
  const out = new MessageWriter();
  const flush = () => {
    out.reset();
    return Promise.resolve();
  };
  await session.startup(new Map([["user", "postgres"]]), out);
  const run = async (...messages: FrontendMessage[]) => {
    for (const message of messages) await session.handle(message, out, flush);
    const text = new TextDecoder().decode(out.view());
    out.reset();
    return text;
  };
  return { session, out, flush, run };
}
