// Node-only parts of the SDK: import "@tripsense/client/node".
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { StorageAdapter } from "./storage.js";

/**
 * Keeps the client's state in one JSON file, replaced atomically (write to a
 * temporary file, then rename) on every change.
 */
export class FileStorage implements StorageAdapter {
  private data?: Record<string, string>;
  private chain: Promise<void> = Promise.resolve();
  constructor(readonly path: string) {}

  private async load(): Promise<Record<string, string>> {
    if (!this.data) {
      try {
        this.data = JSON.parse(await readFile(this.path, "utf8")) as Record<string, string>;
      } catch (e) {
        if ((e as { code?: string }).code !== "ENOENT") throw e;
        this.data = {};
      }
    }
    return this.data;
  }

  private write(): Promise<void> {
    const text = JSON.stringify(this.data ?? {});
    this.chain = this.chain.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = this.path + ".tmp";
      await writeFile(tmp, text, "utf8");
      await rename(tmp, this.path);
    });
    return this.chain;
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.load())[key];
  }
  async set(key: string, value: string): Promise<void> {
    (await this.load())[key] = value;
    await this.write();
  }
  async delete(key: string): Promise<void> {
    delete (await this.load())[key];
    await this.write();
  }
}
