// Where the control-plane benchmarks keep their throwaway state: memory (/dev/shm) when the
// machine has it. Locally workerd runs D1's SQLite on its one thread, and every transaction's
// flush to this VM's disk blocked that thread: on ext4 here the scheduler bench made 215 pods/s
// instead of 362 and bound 989-1,213 pods/s instead of 1,367-1,556. On Cloudflare, D1's
// durability is not the Worker's thread's wait, so memory is the closer model; `npm start`
// keeps its state on disk as before.
import { accessSync, constants } from "node:fs";
import { tmpdir } from "node:os";

export function scratchDir(): string {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "/dev/shm";
  } catch {
    return tmpdir();
  }
}
