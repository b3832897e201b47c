// Interop tests run real third-party clients (dig, curl, redis-cli, psql...).
// When a client is missing the test is skipped with a visible message,
// unless REQUIRE_INTEROP=1 (set by .ci/run after installing the clients), in
// which case it fails instead, so CI can never go green by skipping.

const found = new Map<string, boolean>();

/** True when `binary` is on PATH. */
export function hasBinary(binary: string): boolean {
  let known = found.get(binary);
  if (known === undefined) {
    const { success } = new Deno.Command("sh", {
      args: ["-c", `command -v "$1" >/dev/null 2>&1`, "sh", binary],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    known = success;
    found.set(binary, known);
  }
  return known;
}

/** True when REQUIRE_INTEROP=1: missing clients are failures, not skips. */
export function interopRequired(): boolean {
  return Deno.env.get("REQUIRE_INTEROP") === "1";
}

export interface InteropTestOptions {
  /** Every binary the test runs. */
  binaries: readonly string[];
  fn: (t: Deno.TestContext) => void | Promise<void>;
  sanitizeResources?: boolean;
  sanitizeOps?: boolean;
}

/** Registers a Deno test that needs real client binaries. */
export function interopTest(name: string, options: InteropTestOptions): void {
  const missing = options.binaries.filter((binary) => !hasBinary(binary));
  if (missing.length > 0 && !interopRequired()) {
    console.warn(`skipped: ${missing.join(", ")} not installed (${name})`);
    Deno.test({
      name: `${name} (skipped: ${missing.join(", ")} not installed)`,
      ignore: true,
      fn() {},
    });
    return;
  }
  Deno.test({
    name,
    sanitizeResources: options.sanitizeResources,
    sanitizeOps: options.sanitizeOps,
    async fn(t) {
      if (missing.length > 0) {
        throw new Error(`REQUIRE_INTEROP=1 but ${missing.join(", ")} not installed`);
      }
      await options.fn(t);
    },
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a client binary to completion with a time bound, capturing its output. */
export async function runClient(
  binary: string,
  args: readonly string[],
  options: { stdin?: string | Uint8Array; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const child = new Deno.Command(binary, {
    args: [...args],
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs ?? 30_000);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(
        typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
      );
      await writer.close();
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}
