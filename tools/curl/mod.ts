// `underhood curl URL [-X METHOD] [-H 'K: V'] [-d DATA] [-i] [-v]`: a small
// curl on lib/http's client, for poking at the stack's HTTP services.
//
// The body goes to stdout as it streams in; `-i` prints the status line and
// headers first, `-v` prints what is sent and received to stderr. `-d @FILE`
// sends a file. Like curl without `-f`, any HTTP response exits 0; a
// connection or protocol failure prints the error and exits 1.

import { UsageError } from "../../lib/cli.ts";
import { HttpClient } from "../../lib/http/client.ts";
import { HttpHeaders } from "../../lib/http/headers.ts";
import { defineTool } from "../../lib/service.ts";

export const curl = defineTool({
  name: "curl",
  summary: "HTTP/1.1 client for quick requests",
  usage: "URL",
  allowPositionals: true,
  flags: {
    request: { type: "string", short: "X", help: "request method (default GET, or POST with -d)" },
    header: { type: "strings", short: "H", default: [], help: "extra header 'Name: value'" },
    data: { type: "string", short: "d", help: "request body; @FILE reads a file" },
    include: { type: "boolean", short: "i", default: false, help: "print response headers" },
    verbose: { type: "boolean", short: "v", default: false, help: "show the exchange on stderr" },
    "timeout-ms": { type: "integer", default: 30_000, help: "header and body timeout" },
  },
  async run(config, positionals) {
    if (positionals.length !== 1) throw new UsageError("expected exactly one URL");
    let url = positionals[0];
    if (!/^[a-z]+:\/\//i.test(url)) url = `http://${url}`;
    const headers = new HttpHeaders();
    for (const line of config.header) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new UsageError(`bad header "${line}": expected 'Name: value'`);
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    let body: Uint8Array | undefined;
    if (config.data !== undefined) {
      body = config.data.startsWith("@")
        ? await Deno.readFile(config.data.slice(1))
        : new TextEncoder().encode(config.data);
      if (!headers.has("content-type")) {
        headers.set("content-type", "application/x-www-form-urlencoded");
      }
    }
    const method = config.request ?? (body ? "POST" : "GET");
    await using client = new HttpClient({
      headerTimeoutMs: config.timeoutMs,
      bodyTimeoutMs: config.timeoutMs,
    });
    const err = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
    if (config.verbose) {
      const parsed = new URL(url);
      err(`> ${method} ${parsed.pathname}${parsed.search} HTTP/1.1`);
      err(`> host: ${parsed.host}`);
      for (const [name, value] of headers) err(`> ${name}: ${value}`);
      err(">");
    }
    try {
      const response = await client.request(url, { method, headers, body });
      const statusLine = `HTTP/${response.version} ${response.status} ${response.reason}`;
      const headLines = [statusLine, ...[...response.headers].map(([n, v]) => `${n}: ${v}`)];
      if (config.verbose) {
        for (const line of headLines) err(`< ${line}`);
        err("<");
      }
      if (config.include) {
        await Deno.stdout.write(new TextEncoder().encode(headLines.join("\r\n") + "\r\n\r\n"));
      }
      for await (const chunk of response.body) {
        let offset = 0;
        while (offset < chunk.length) offset += await Deno.stdout.write(chunk.subarray(offset));
      }
      return 0;
    } catch (error) {
      err(`curl: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
  },
});
