// SCRAM-SHA-256 against RFC 7677's example exchange (section 3) and against
// a real exchange between psql and PostgreSQL 15 (fixtures/captured.ts,
// password "secret"): our server side must accept the real client's proof
// and answer the very signature the real server sent.

import assert from "node:assert/strict";
import { type Bytes, fromHex } from "../../../lib/bytes.ts";
import { type Decoded, isIncomplete } from "../../../lib/decode.ts";
import { decodeBackendMessage } from "../../../lib/pg/backend.ts";
import { decodeFrontendMessage, parseSaslInitialResponse } from "../../../lib/pg/frontend.ts";
import {
  authMessageFor,
  clientProof,
  formatScramSecret,
  fromBase64,
  parseClientFinal,
  parseClientFirst,
  parseScramSecret,
  ScramError,
  scramSecret,
  serverFirstMessage,
  toBase64,
  verifyClientProof,
} from "../../../lib/pg/scram.ts";
import { DEFAULT_LIMITS } from "../../../lib/pg/types.ts";
import { PSQL_SESSION } from "./fixtures/captured.ts";

/** Pure code: these tests need no permission at all (docs/architecture.md habit 1). */
const pure = { permissions: "none" } as const;

// RFC 7677 section 3: user "user", password "pencil".
const RFC = {
  clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
  serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

Deno.test("the server side reproduces RFC 7677's example exchange", pure, async () => {
  const secret = await scramSecret("pencil", fromBase64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  const first = parseClientFirst(RFC.clientFirst);
  assert.deepEqual(first, {
    gs2Header: "n,,",
    clientNonce: "rOprNGfwEbeRWgbNEkqO",
    bare: "n=user,r=rOprNGfwEbeRWgbNEkqO",
  });
  const { message, state } = serverFirstMessage(first, secret, RFC.serverNonce);
  assert.equal(message, RFC.serverFirst);
  const final = parseClientFinal(RFC.clientFinal);
  const authMessage = authMessageFor(state, final);
  assert.equal(await verifyClientProof(secret, authMessage, final.proof), RFC.serverFinal);
  assert.equal(
    toBase64(await clientProof("pencil", secret.salt, 4096, authMessage)),
    "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  );
});

Deno.test("a wrong password's proof is refused", pure, async () => {
  const secret = await scramSecret("pencil", fromBase64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  const { state } = serverFirstMessage(parseClientFirst(RFC.clientFirst), secret, RFC.serverNonce);
  const final = parseClientFinal(RFC.clientFinal);
  const authMessage = authMessageFor(state, final);
  const wrong = await clientProof("crayon", secret.salt, 4096, authMessage);
  assert.equal(await verifyClientProof(secret, authMessage, wrong), null);
});

function body(hex: string, side: "frontend" | "backend"): Bytes {
  const bytes = fromHex(hex);
  const decoded: Decoded<unknown> = side === "frontend"
    ? decodeFrontendMessage(bytes, DEFAULT_LIMITS)
    : decodeBackendMessage(bytes, DEFAULT_LIMITS);
  assert.ok(!isIncomplete(decoded));
  return (decoded.value as { data: Bytes }).data;
}

Deno.test(
  "the server side accepts psql's real proof and signs as PostgreSQL 15 did",
  pure,
  async () => {
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    const initial = parseSaslInitialResponse(body(PSQL_SESSION.frontend[2], "frontend"));
    const clientFirst = parseClientFirst(text(initial.initialResponse!));
    const realServerFirst = text(body(PSQL_SESSION.backend[2], "backend"));
    const clientFinal = parseClientFinal(text(body(PSQL_SESSION.frontend[3], "frontend")));
    const realServerFinal = text(body(PSQL_SESSION.backend[3], "backend"));

    const [, nonce, salt, iterations] = /^r=([^,]+),s=([^,]+),i=(\d+)$/.exec(realServerFirst)!;
    const secret = await scramSecret("secret", fromBase64(salt), Number(iterations));
    const serverNonce = nonce.slice(clientFirst.clientNonce.length);
    const { message, state } = serverFirstMessage(clientFirst, secret, serverNonce);
    assert.equal(message, realServerFirst);
    const authMessage = authMessageFor(state, clientFinal);
    assert.equal(await verifyClientProof(secret, authMessage, clientFinal.proof), realServerFinal);
  },
);

Deno.test("stored secrets use PostgreSQL's format and round-trip", pure, async () => {
  const secret = await scramSecret("pencil", fromBase64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  const text = formatScramSecret(secret);
  assert.match(text, /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[^:]+:.+$/);
  assert.deepEqual(parseScramSecret(text), secret);
  assert.equal(parseScramSecret("md5abc"), null);
});

Deno.test("malformed SCRAM messages get PostgreSQL's details", pure, () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [() => parseClientFirst("p=tls-server-end-point,,n=,r=abc"), /SCRAM-SHA-256-PLUS/],
    [() => parseClientFirst("x,,n=,r=abc"), /Unexpected channel-binding flag/],
    [() => parseClientFirst("n,a=admin,n=,r=abc"), /authorization identity/],
    [() => parseClientFirst("n,,n=,x=abc"), /Expected attribute "r"/],
    [() => parseClientFirst("n,,n="), /Expected attribute "r" but found end of string/],
    [() => parseClientFirst("n,,n=,r="), /Invalid nonce/],
    [() => parseClientFinal("c=biws,r=abc"), /Could not find proof/],
    [() => parseClientFinal("c=biws,r=abc,p=!!!!"), /Invalid base64/],
    [() => parseClientFinal("c=biws,r=abc,p=AAAA"), /Malformed proof/],
  ];
  for (const [run, detail] of cases) {
    assert.throws(run, (e: unknown) => e instanceof ScramError && detail.test(e.detail));
  }
  const first = parseClientFirst("n,,n=,r=abc");
  const secret = {
    iterations: 1,
    salt: new Uint8Array(1),
    storedKey: new Uint8Array(32),
    serverKey: new Uint8Array(32),
  };
  const { state } = serverFirstMessage(first, secret, "def");
  const proof = "p=" + toBase64(new Uint8Array(32));
  assert.throws(
    () => authMessageFor(state, parseClientFinal(`c=eSws,r=abcdef,${proof}`)),
    /malformed/,
  );
  assert.throws(
    () => authMessageFor(state, parseClientFinal(`c=biws,r=abcxyz,${proof}`)),
    ScramError,
  );
  assert.equal(
    authMessageFor(state, parseClientFinal(`c=biws,r=abcdef,${proof}`)),
    "n=,r=abc,r=abcdef,s=AA==,i=1,c=biws,r=abcdef",
  );
});
