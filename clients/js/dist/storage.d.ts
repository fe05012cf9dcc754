/**
 * Where the client keeps its state (room cursors and messages, the outbox)
 * between runs. Values are strings (JSON). Writes of one key are issued in
 * order; an adapter must apply them in order.
 */
export interface StorageAdapter {
    get(key: string): Promise<string | undefined>;
    set(key: string, value: string): Promise<void>;
    delete(key: string): Promise<void>;
}
/** Keeps everything in memory: state lasts as long as the object. */
export declare class MemoryStorage implements StorageAdapter {
    private readonly data;
    get(key: string): Promise<string | undefined>;
    set(key: string, value: string): Promise<void>;
    delete(key: string): Promise<void>;
}
/** IndexedDB storage for browsers: one object store of string values. */
export declare class IndexedDBStorage implements StorageAdapter {
    private readonly name;
    private readonly factory;
    private db?;
    constructor(name?: string, factory?: IDBFactory);
    private open;
    private tx;
    get(key: string): Promise<string | undefined>;
    set(key: string, value: string): Promise<void>;
    delete(key: string): Promise<void>;
}
