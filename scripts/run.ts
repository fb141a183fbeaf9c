// Run a program without a shell; failures carry the command, its output and exit code.
import { spawn } from "node:child_process";

export class CommandError extends Error {
  readonly command: string;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;

  constructor(command: string, code: number | null, stdout: string, stderr: string) {
    super(`${command} exited with ${code}: ${stderr.trim() || stdout.trim()}`);
    this.command = command;
    this.code = code;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Capture output instead of passing it through. */
  quiet?: boolean;
}

export function run(file: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => {
      stdout += d;
    });
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new CommandError([file, ...args].join(" "), code, stdout, stderr));
    });
  });
}
