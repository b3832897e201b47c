// `underhood dig`: a DNS lookup client printing in the familiar dig layout.
//
//   deno task dig NAME [TYPE] [@SERVER] [-p PORT] [+tcp] [+short] [+norecurse] [+noedns]
//
// Like BIND's dig, a truncated UDP answer is retried over TCP, the exit code
// is 0 whenever an answer arrived (whatever its rcode) and 9 when no server
// answered, and errors read ";; communications error to ...".
//
// Left out: reading /etc/resolv.conf (the server defaults to 127.0.0.1),
// batch files, reverse lookups (-x) and dig's many other +options.

import { UsageError } from "../../lib/cli.ts";
import { query, QueryError, type QueryResult } from "../../lib/dns/client.ts";
import { parseName } from "../../lib/dns/name.ts";
import { formatRData } from "../../lib/dns/rdata.ts";
import {
  className,
  type Message,
  opcodeName,
  parseClass,
  parseType,
  rcodeName,
  RecordType,
  type ResourceRecord,
  typeName,
} from "../../lib/dns/types.ts";
import { defineTool } from "../../lib/service.ts";

/** dig's exit code when no server could be reached. */
export const EXIT_NO_ANSWER = 9;

export interface DigRequest {
  name: string;
  type: number;
  class: number;
  server: string;
  tcp: boolean;
  short: boolean;
  recurse: boolean;
  edns: boolean;
}

/** Reads dig's positional arguments: a name, a type, a class, @server and +options. */
export function parseDigArgs(positionals: readonly string[]): DigRequest {
  const request: DigRequest = {
    name: "",
    type: RecordType.A,
    class: 1,
    server: "127.0.0.1",
    tcp: false,
    short: false,
    recurse: true,
    edns: true,
  };
  let sawName = false;
  for (const arg of positionals) {
    if (arg.startsWith("@")) {
      request.server = arg.slice(1).replace(/^\[(.*)\]$/, "$1");
    } else if (arg.startsWith("+")) {
      const option = arg.slice(1).toLowerCase();
      const on = !option.startsWith("no");
      const base = on ? option : option.slice(2);
      if (base === "tcp" || base === "vc") request.tcp = on;
      else if (base === "short") request.short = on;
      else if (base === "rec" || base === "recurse") request.recurse = on;
      else if (base === "edns") request.edns = on;
      else throw new UsageError(`unknown option ${arg}`);
    } else if (sawName && parseType(arg) !== undefined) {
      request.type = parseType(arg)!;
    } else if (sawName && parseClass(arg) !== undefined) {
      request.class = parseClass(arg)!;
    } else if (!sawName) {
      request.name = arg;
      sawName = true;
    } else {
      throw new UsageError(`unexpected argument "${arg}"`);
    }
  }
  if (!sawName) throw new UsageError("which name? usage: dig NAME [TYPE] [@SERVER]");
  return request;
}

export const dig = defineTool({
  name: "dig",
  summary: "DNS lookup client in the familiar dig layout",
  usage: "NAME [TYPE] [@SERVER] [+tcp] [+short] [+norecurse] [+noedns]",
  allowPositionals: true,
  flags: {
    port: { type: "port", short: "p", default: 53, help: "server port" },
    "timeout-ms": { type: "integer", default: 5000, help: "give up waiting after this long" },
  },
  async run(config, positionals) {
    const request = parseDigArgs(positionals);
    let name;
    try {
      name = parseName(request.name.endsWith(".") ? request.name : `${request.name}.`);
    } catch (error) {
      throw new UsageError(`bad name "${request.name}": ${(error as Error).message}`);
    }
    const server = { hostname: request.server, port: config.port };
    const where = `${request.server}#${config.port}`;
    const out: string[] = [];
    const options = {
      timeoutMs: config.timeoutMs,
      recursionDesired: request.recurse,
      ednsSize: request.edns ? 1232 : 0,
      class: request.class,
    };
    let result: QueryResult;
    try {
      result = await query(server, name, request.type, { ...options, tcp: request.tcp });
      if (result.message.tc && !request.tcp) {
        if (!request.short) out.push(";; Truncated, retrying in TCP mode.");
        result = await query(server, name, request.type, { ...options, tcp: true });
      }
    } catch (error) {
      if (!(error instanceof QueryError)) throw error;
      const why = error.reason === "timeout" ? "timed out" : error.message;
      console.log([...out, `;; communications error to ${where}: ${why}`].join("\n"));
      console.log(";; no servers could be reached");
      return EXIT_NO_ANSWER;
    }
    if (request.short) {
      out.push(...result.message.answers.map((r) => formatRData(r.data)));
    } else {
      const args = config.port === 53 ? positionals : [...positionals, "-p", String(config.port)];
      out.push(...formatDigOutput(result, { args, where, server: request.server }));
    }
    console.log(out.join("\n"));
    return 0;
  },
});

/** The full dig layout for one answer. */
export function formatDigOutput(
  result: QueryResult,
  context: { args: readonly string[]; where: string; server: string },
): string[] {
  const m = result.message;
  const lines = [
    "",
    `; <<>> underhood dig <<>> ${context.args.join(" ")}`,
    ";; global options: +cmd",
    ";; Got answer:",
    `;; ->>HEADER<<- opcode: ${opcodeName(m.opcode)}, status: ${rcodeName(m.rcode)}, id: ${m.id}`,
    `;; flags: ${flagList(m)}; QUERY: ${m.questions.length}, ANSWER: ${m.answers.length}, ` +
    `AUTHORITY: ${m.authority.length}, ADDITIONAL: ${m.additional.length + (m.edns ? 1 : 0)}`,
  ];
  if (m.rd && !m.ra) lines.push(";; WARNING: recursion requested but not available");
  if (m.edns) {
    lines.push(
      "",
      ";; OPT PSEUDOSECTION:",
      `; EDNS: version: ${m.edns.version}, flags:${m.edns.dnssecOk ? " do" : ""}; ` +
        `udp: ${m.edns.udpPayloadSize}`,
    );
  }
  lines.push(";; QUESTION SECTION:");
  for (const q of m.questions) {
    lines.push(`${column(`;${q.name}`)}\t${className(q.class)}\t${typeName(q.type)}`);
  }
  const section = (title: string, records: readonly ResourceRecord[]) => {
    if (records.length === 0) return;
    lines.push("", `;; ${title} SECTION:`, ...records.map(formatRecord));
  };
  section("ANSWER", m.answers);
  section("AUTHORITY", m.authority);
  section("ADDITIONAL", m.additional);
  lines.push(
    "",
    `;; Query time: ${Math.round(result.elapsedMs)} msec`,
    `;; SERVER: ${context.where}(${context.server}) (${result.transport.toUpperCase()})`,
    `;; WHEN: ${new Date().toUTCString()}`,
    `;; MSG SIZE  rcvd: ${result.sizeBytes}`,
    "",
  );
  return lines;
}

/** One record as dig prints it: owner, TTL, class, type, data, tab separated. */
export function formatRecord(record: ResourceRecord): string {
  return `${column(record.name)}${record.ttl}\t${className(record.class)}\t` +
    `${typeName(record.type)}\t${formatRData(record.data)}`;
}

/** dig pads the owner with tabs to column 24. */
function column(text: string): string {
  const tabs = text.length < 24 ? Math.ceil((24 - text.length) / 8) : 1;
  return text + "\t".repeat(tabs);
}

function flagList(m: Message): string {
  const flags: string[] = [];
  if (m.qr) flags.push("qr");
  if (m.aa) flags.push("aa");
  if (m.tc) flags.push("tc");
  if (m.rd) flags.push("rd");
  if (m.ra) flags.push("ra");
  if (m.ad) flags.push("ad");
  if (m.cd) flags.push("cd");
  return flags.join(" ");
}
