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
export class MemoryStorage implements StorageAdapter {
  private readonly data = new Map<string, string>();
  async get(key: string): Promise<string | undefined> {
    return this.data.get(key);
  }
  async set(key: string, value: string): Promise<void> {
    this.data.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
}

/** IndexedDB storage for browsers: one object store of string values. */
export class IndexedDBStorage implements StorageAdapter {
  private db?: Promise<IDBDatabase>;
  constructor(private readonly name = "tripsense", private readonly factory: IDBFactory = globalThis.indexedDB) {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = this.factory.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore("kv");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return this.db;
  }

  private async tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const t = db.transaction("kv", mode);
      const req = f(t.objectStore("kv"));
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  }

  async get(key: string): Promise<string | undefined> {
    const v = await this.tx("readonly", (s) => s.get(key));
    return typeof v === "string" ? v : undefined;
  }
  async set(key: string, value: string): Promise<void> {
    await this.tx("readwrite", (s) => s.put(value, key));
  }
  async delete(key: string): Promise<void> {
    await this.tx("readwrite", (s) => s.delete(key));
  }
}
