// `deno task curl [flags] URL`: a curl for the stack, resolving host names
// through our resolver (`--resolver`, default the stack's 127.0.0.1:5354)
// instead of the system's, so `deno task curl http://example.com:8080/api/spells`
// reaches the balancer by the name the stack's DNS gives it.
//
// curl's common flags, with curl's meaning and exit codes: -X, -H (a
// "Name:" with no value removes a default header, "Name;" sends it empty),
// -d (repeatable, joined with "&"; @FILE strips newlines as curl does),
// --data-binary (@FILE sent as is), -T FILE (PUT, streamed; "-" for
// stdin, chunked), -i, -I, -s, -S, -o FILE, -L (curl's method rules on
// 301/302/303), -f, -m, --connect-timeout, -A, -w with curl's variables
// (write_out.ts), and -v: the exchange on stderr and then one line of
// timing: DNS, connect, TLS, first byte and total.
//
// The exchange itself is in transfer.ts; this file turns flags into
// requests, follows redirects and writes the output.

import { type Bytes, concat, utf8 } from "../../lib/bytes.ts";
import { type ConfigOf, type FlagSpecs, UsageError } from "../../lib/cli.ts";
import type { ServerAddress } from "../../lib/dns/client.ts";
import type { ResponseHead } from "../../lib/http/head.ts";
import { writeStderr } from "../../lib/log.ts";
import { defineTool } from "../../lib/service.ts";
import { CurlError, type RequestBody, transfer, type TransferResult } from "./transfer.ts";
import { formatWriteOut } from "./write_out.ts";

/** The stack's resolver (docs/architecture.md, "Default ports"). */
export const DEFAULT_RESOLVER = "127.0.0.1:5354";
const USER_AGENT = "underhood-curl/1.0";
/** curl's default --max-redirs. */
const REDIRECTS_MAX = 50;

export const curlFlags = {
  request: { type: "string", short: "X", help: "request method (default GET; POST with -d)" },
  header: { type: "strings", short: "H", default: [], help: "extra header 'Name: value'" },
  data: { type: "strings", short: "d", default: [], help: "body to POST; @FILE reads a file" },
  "data-binary": {
    type: "strings",
    default: [],
    help: "body to POST as is; @FILE reads a file byte for byte",
  },
  "upload-file": { type: "string", short: "T", help: "PUT this file (- for stdin)" },
  include: { type: "boolean", short: "i", default: false, help: "print response headers too" },
  head: { type: "boolean", short: "I", default: false, help: "HEAD request, print headers" },
  silent: { type: "boolean", short: "s", default: false, help: "no error messages" },
  "show-error": { type: "boolean", short: "S", default: false, help: "errors even with -s" },
  output: { type: "string", short: "o", help: "write the body to this file instead of stdout" },
  location: { type: "boolean", short: "L", default: false, help: "follow redirects" },
  "max-redirs": { type: "integer", default: REDIRECTS_MAX, help: "redirects followed at most" },
  fail: { type: "boolean", short: "f", default: false, help: "exit 22 on an HTTP error (>= 400)" },
  "write-out": {
    type: "string",
    short: "w",
    help: "print this after the transfer (%{http_code}...)",
  },
  verbose: {
    type: "boolean",
    short: "v",
    default: false,
    help: "the exchange and timings on stderr",
  },
  "user-agent": { type: "string", short: "A", default: USER_AGENT, help: "User-Agent header" },
  "max-time": { type: "string", short: "m", help: "seconds the whole transfer may take" },
  "connect-timeout": { type: "string", default: "10", help: "seconds a connect may take" },
  resolver: {
    type: "string",
    default: DEFAULT_RESOLVER,
    help: "DNS resolver ADDR:PORT host names are looked up with",
  },
} as const satisfies FlagSpecs;

export const curl = defineTool({
  name: "curl",
  summary: "HTTP/1.1 client like curl, resolving names through our resolver",
  usage: "URL",
  allowPositionals: true,
  flags: curlFlags,
  async run(config, positionals): Promise<number> {
    if (positionals.length !== 1) throw new UsageError("expected exactly one URL");
    const quiet = config.silent && !config.showError;
    const err = (line: string) => writeStderr(line + "\n");
    try {
      return await runCurl(config, positionals[0], { err, quiet });
    } catch (error) {
      if (error instanceof CurlError) {
        if (!quiet) err(`curl: (${error.exitCode}) ${error.message}`);
        return error.exitCode;
      }
      throw error;
    }
  },
});

type CurlConfig = ConfigOf<typeof curlFlags>;

async function runCurl(
  config: CurlConfig,
  urlText: string,
  io: { err: (line: string) => void; quiet: boolean },
): Promise<number> {
  const resolver = parseResolver(config.resolver);
  let url = parseUrl(urlText);
  const body = await requestBody(config);
  if (body?.kind === "file" && url.pathname.endsWith("/")) {
    // curl -T FILE http://host/dir/ puts it at /dir/FILE.
    url = new URL(encodeURIComponent(body.path.replace(/^.*\//, "")), url);
  }
  let method = config.request ??
    (config.head
      ? "HEAD"
      : body?.kind === "file" || body?.kind === "stdin"
      ? "PUT"
      : body
      ? "POST"
      : "GET");
  let currentBody = body;
  const out = await openOutput(config.output);
  // Times count from here, as curl's do from the start of the transfer (not of the command).
  const startedAt = performance.now();
  const showHeaders = config.include || config.head;
  let redirects = 0;
  let redirectSeconds = 0;
  let result: TransferResult | undefined;
  let failed = false;
  try {
    while (true) {
      const headers = requestHeaders(url, config, currentBody);
      const verbose = config.verbose ? io.err : () => {};
      result = await transfer({ url, method, headers, body: currentBody }, {
        resolver,
        startedAt,
        connectTimeoutMs: seconds(config.connectTimeout, "--connect-timeout") ?? 10_000,
        maxTimeMs: seconds(config.maxTime, "--max-time") ?? 0,
        onInfo: verbose,
        onHead: async (raw: string) => {
          if (config.verbose) {
            for (const line of raw.split("\r\n").slice(0, -2)) io.err(`< ${line}`);
            io.err("<");
          }
          if (showHeaders) await out.write(utf8(raw) as Bytes);
        },
        wantBody: (head: ResponseHead) => {
          failed = config.fail && head.status >= 400;
          return !failed && !(config.location && isRedirect(head) && redirects < config.maxRedirs);
        },
        onBody: (chunk) => out.write(chunk),
      });
      const location = result.head.headers.get("location");
      if (!config.location || !isRedirect(result.head) || location === undefined) break;
      if (redirects >= config.maxRedirs) {
        throw new CurlError(47, `Maximum (${config.maxRedirs}) redirects followed`);
      }
      redirects++;
      redirectSeconds = result.timings.total;
      url = new URL(location, url);
      // curl's rules: 303 turns anything but HEAD into GET; 301 and 302 turn POST into
      // GET; 307 and 308 keep both; a method given with -X is always kept.
      const status = result.head.status;
      if (
        config.request === undefined &&
        ((status === 303 && method !== "HEAD") || ((status === 301 || status === 302) &&
          method === "POST"))
      ) {
        method = "GET";
        currentBody = undefined;
      }
      if (currentBody?.kind === "stdin") {
        throw new CurlError(65, "necessary data rewind wasn't possible (stdin was already sent)");
      }
      if (config.verbose) io.err(`* Following redirect to ${url.href}`);
    }
  } finally {
    await out.close();
  }
  const t = result.timings;
  if (config.verbose) {
    const ms = (from: number, to: number) => `${((to - from) * 1000).toFixed(2)} ms`;
    const tlsPart = t.appconnect > 0 ? `, TLS ${ms(t.connect, t.appconnect)}` : "";
    io.err(
      `* Timing: DNS ${ms(redirectSeconds, t.namelookup)}, connect ${
        ms(t.namelookup, t.connect)
      }${tlsPart}, first byte ${ms(t.pretransfer, t.starttransfer)}, total ${ms(0, t.total)}`,
    );
  }
  if (config.writeOut !== undefined) {
    const format = config.writeOut.startsWith("@")
      ? await readFormat(config.writeOut.slice(1))
      : config.writeOut;
    const text = formatWriteOut(format, {
      httpCode: result.head.status,
      urlEffective: url.href,
      numRedirects: redirects,
      contentType: result.head.headers.get("content-type") ?? "",
      remoteIp: result.remote.address,
      remotePort: result.remote.port,
      sizeDownload: result.bodyBytes,
      sizeHeader: result.headerBytes,
      sizeUpload: result.uploadBytes,
      timeNamelookup: t.namelookup,
      timeConnect: t.connect,
      timeAppconnect: t.appconnect,
      timePretransfer: t.pretransfer,
      timeStarttransfer: t.starttransfer,
      timeRedirect: redirectSeconds,
      timeTotal: t.total,
    }, (name) => io.err(`curl: unknown --write-out variable: '${name}'`));
    await writeStdout(utf8(text));
  }
  if (failed) {
    throw new CurlError(22, `The requested URL returned error: ${result.head.status}`);
  }
  return 0;
}

function isRedirect(head: ResponseHead): boolean {
  return [301, 302, 303, 307, 308].includes(head.status) && head.headers.has("location");
}

/** Host (from the URL, unless -H gives one), User-Agent, Accept, then -H in order. */
function requestHeaders(
  url: URL,
  config: CurlConfig,
  body: RequestBody | undefined,
): [string, string][] {
  const defaults: [string, string][] = [
    ["Host", url.host],
    ["User-Agent", config.userAgent],
    ["Accept", "*/*"],
  ];
  if (body?.kind === "bytes" && config.data.length + config.dataBinary.length > 0) {
    defaults.push(["Content-Type", "application/x-www-form-urlencoded"]);
  }
  const extra: [string, string][] = [];
  const replaced = new Set<string>();
  for (const line of config.header) {
    const colon = line.indexOf(":");
    const semicolon = line.indexOf(";");
    if (colon <= 0 && semicolon > 0 && line.slice(semicolon + 1).trim() === "") {
      // "Name;" sends the header with an empty value.
      const name = line.slice(0, semicolon).trim();
      replaced.add(name.toLowerCase());
      extra.push([name, ""]);
      continue;
    }
    if (colon <= 0) throw new UsageError(`bad header "${line}": expected 'Name: value'`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    replaced.add(name.toLowerCase());
    if (value !== "") extra.push([name, value]);
  }
  return [...defaults.filter(([name]) => !replaced.has(name.toLowerCase())), ...extra];
}

/** -d, --data-binary (joined by "&", as curl joins them) or -T; undefined for none. */
async function requestBody(config: CurlConfig): Promise<RequestBody | undefined> {
  const upload = config.uploadFile;
  const pieces: Bytes[] = [];
  for (const data of config.data) {
    // curl -d @FILE drops carriage returns and newlines; --data-binary keeps them.
    pieces.push(
      data.startsWith("@") ? stripNewlines(await readLocal(data.slice(1))) : utf8(data),
    );
  }
  for (const data of config.dataBinary) {
    pieces.push(data.startsWith("@") ? await readLocal(data.slice(1)) : utf8(data));
  }
  if (pieces.length > 0 && upload !== undefined) {
    throw new UsageError("-T and -d/--data-binary cannot go together");
  }
  if (upload !== undefined) {
    return upload === "-" ? { kind: "stdin" } : { kind: "file", path: upload };
  }
  if (pieces.length === 0) return undefined;
  const joined: Bytes[] = [];
  pieces.forEach((piece, i) => {
    if (i > 0) joined.push(utf8("&"));
    joined.push(piece);
  });
  return { kind: "bytes", bytes: concat(joined) };
}

async function readLocal(path: string): Promise<Bytes> {
  try {
    if (path === "-") return concat(await Array.fromAsync(Deno.stdin.readable)) as Bytes;
    return await Deno.readFile(path) as Bytes;
  } catch (error) {
    throw new CurlError(
      26,
      `Failed to open/read local data from file ${path}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
}

function stripNewlines(bytes: Bytes): Bytes {
  return bytes.filter((b) => b !== 0x0d && b !== 0x0a) as Bytes;
}

interface Output {
  write(bytes: Bytes): Promise<void>;
  close(): Promise<void>;
}

async function openOutput(path: string | undefined): Promise<Output> {
  if (path === undefined || path === "-") {
    return { write: writeStdout, close: () => Promise.resolve() };
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, create: true, truncate: true });
  } catch (error) {
    throw new CurlError(23, `Failure writing output to destination: ${path}: ${error}`);
  }
  return {
    async write(bytes) {
      let offset = 0;
      while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
    },
    close: () => Promise.resolve(file.close()),
  };
}

async function writeStdout(bytes: Bytes): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await Deno.stdout.write(bytes.subarray(offset));
}

async function readFormat(path: string): Promise<string> {
  return new TextDecoder().decode(await readLocal(path));
}

function parseUrl(text: string): URL {
  // curl takes "host:port/path" without a scheme as http://.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CurlError(3, `URL rejected: Malformed input to a URL function: ${text}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CurlError(1, `Protocol "${url.protocol.slice(0, -1)}" not supported`);
  }
  return url;
}

function parseResolver(text: string): ServerAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (match === null || Number(match[3]) > 65535) {
    throw new UsageError(`--resolver: expected ADDR:PORT, got "${text}"`);
  }
  return { hostname: match[1] ?? match[2], port: Number(match[3]) };
}

/** curl's seconds (fractions allowed) as milliseconds; undefined when not given. */
function seconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(value >= 0) || !Number.isFinite(value)) {
    throw new UsageError(`${flag}: expected seconds, got "${text}"`);
  }
  return Math.round(value * 1000);
}
