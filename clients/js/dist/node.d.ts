import type { StorageAdapter } from "./storage.js";
/**
 * Keeps the client's state in one JSON file, replaced atomically (write to a
 * temporary file, then rename) on every change.
 */
export declare class FileStorage implements StorageAdapter {
    readonly path: string;
    private data?;
    private chain;
    constructor(path: string);
    private load;
    private write;
    get(key: string): Promise<string | undefined>;
    set(key: string, value: string): Promise<void>;
    delete(key: string): Promise<void>;
}
