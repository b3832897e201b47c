// Starts a service in-process on port 0 with a temporary data directory, the
// way every integration test should:
//
//   await using dns = await startService(dnsService, { zone: [path] });
//   const { port } = dns.addresses.udp;

import { type ConfigOf, defaultConfig, type FlagSpecs } from "../../lib/cli.ts";
import type { ServiceDefinition, ServiceHandle } from "../../lib/service.ts";

export interface TestService extends ServiceHandle {
  /** The temporary data directory, removed on close. */
  readonly dataDir: string;
}

export async function startService<S extends FlagSpecs>(
  service: ServiceDefinition<S>,
  overrides: Partial<ConfigOf<S>> = {},
): Promise<TestService> {
  const dataDir = await Deno.makeTempDir({ prefix: `underhood-${service.name}-` });
  const base: Record<string, unknown> = { host: "127.0.0.1", port: 0, dataDir };
  if ("adminPort" in defaultConfig(service.flags)) base.adminPort = 0;
  const config = { ...defaultConfig(service.flags), ...base, ...overrides } as ConfigOf<S>;
  let handle: ServiceHandle;
  try {
    handle = await service.start(config);
  } catch (error) {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw error;
  }
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= handle.close().finally(() =>
      Deno.remove(dataDir, { recursive: true }).catch(() => {})
    );
  return {
    addresses: handle.addresses,
    ready: handle.ready,
    dataDir,
    close,
    [Symbol.asyncDispose]: close,
  };
}
