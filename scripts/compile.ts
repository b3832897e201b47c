// `deno task compile`: one self-contained executable per built command in
// dist/, each with its command baked in (`dist/underhood-dns --port 53`).
//
// `deno compile` downloads its runtime base on first use, so this stays out
// of tests and CI (our machines cannot download it).

import { COMMANDS } from "../commands.ts";

const targets = Object.entries(COMMANDS)
  .filter(([, entry]) => entry.load !== undefined)
  .map(([name]) => name);

let failed = 0;
for (const name of targets) {
  const output = `dist/underhood-${name}`;
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["compile", "-A", "--output", output, "main.ts", name],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  console.log(`${success ? "built" : "FAILED"} ${output}`);
  if (!success) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);
