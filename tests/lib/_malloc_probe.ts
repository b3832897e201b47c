// Run as its own process by malloc_tuning_test.ts (mallopt changes the whole
// process, so not inside the test runner): frees one 8 MiB block, then asks
// glibc's mallinfo2 whether a 1 MiB block is served by its own mmap.
// Prints {"fixed": <fixMallocThreshold() applied>, "mmapped": <0 or 1>}.

import { fixMallocThreshold } from "../../lib/malloc_tuning.ts";

const fixed = Deno.args[0] === "fixed" ? fixMallocThreshold() : false;
const sizeT = "usize" as const;
const libc = Deno.dlopen("libc.so.6", {
  malloc: { parameters: [sizeT], result: "pointer" },
  free: { parameters: ["pointer"], result: "void" },
  // struct mallinfo2: ten size_t fields; hblks (mmapped blocks) is the fourth.
  mallinfo2: { parameters: [], result: { struct: new Array(10).fill(sizeT) } },
});
const mmappedBlocks = () => Number(new BigUint64Array(libc.symbols.mallinfo2().buffer)[3]);

// Freeing an mmapped block raises glibc's dynamic threshold to its size...
libc.symbols.free(libc.symbols.malloc(8n * 1024n * 1024n));
const before = mmappedBlocks();
// ...so without the fix this one comes from the heap arena.
const block = libc.symbols.malloc(1024n * 1024n);
const after = mmappedBlocks();
libc.symbols.free(block);
console.log(JSON.stringify({ fixed, mmapped: after - before }));
