// How much of a file sits in the page cache, for tests of direct (O_DIRECT)
// writes and reads.

/** Pages of `path` in the page cache (fincore, util-linux), or undefined without it. */
export function residentPages(path: string): number | undefined {
  try {
    const out = new Deno.Command("fincore", {
      args: ["--raw", "--noheadings", "-o", "PAGES", path],
    })
      .outputSync();
    return out.success ? Number(new TextDecoder().decode(out.stdout).trim()) : undefined;
  } catch {
    return undefined; // no fincore
  }
}
