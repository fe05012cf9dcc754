// Node-only parts of the SDK: import "@tripsense/client/node".
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
/**
 * Keeps the client's state in one JSON file, replaced atomically (write to a
 * temporary file, then rename) on every change.
 */
export class FileStorage {
    path;
    data;
    chain = Promise.resolve();
    constructor(path) {
        this.path = path;
    }
    async load() {
        if (!this.data) {
            try {
                this.data = JSON.parse(await readFile(this.path, "utf8"));
            }
            catch (e) {
                if (e.code !== "ENOENT")
                    throw e;
                this.data = {};
            }
        }
        return this.data;
    }
    write() {
        const text = JSON.stringify(this.data ?? {});
        this.chain = this.chain.then(async () => {
            await mkdir(dirname(this.path), { recursive: true });
            const tmp = this.path + ".tmp";
            await writeFile(tmp, text, "utf8");
            await rename(tmp, this.path);
        });
        return this.chain;
    }
    async get(key) {
        return (await this.load())[key];
    }
    async set(key, value) {
        (await this.load())[key] = value;
        await this.write();
    }
    async delete(key) {
        delete (await this.load())[key];
        await this.write();
    }
}
