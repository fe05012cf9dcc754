/** Keeps everything in memory: state lasts as long as the object. */
export class MemoryStorage {
    data = new Map();
    async get(key) {
        return this.data.get(key);
    }
    async set(key, value) {
        this.data.set(key, value);
    }
    async delete(key) {
        this.data.delete(key);
    }
}
/** IndexedDB storage for browsers: one object store of string values. */
export class IndexedDBStorage {
    name;
    factory;
    db;
    constructor(name = "tripsense", factory = globalThis.indexedDB) {
        this.name = name;
        this.factory = factory;
    }
    open() {
        this.db ??= new Promise((resolve, reject) => {
            const req = this.factory.open(this.name, 1);
            req.onupgradeneeded = () => req.result.createObjectStore("kv");
            req.onsuccess = () => resolve(req.result);
            req.onerror = () => reject(req.error);
        });
        return this.db;
    }
    async tx(mode, f) {
        const db = await this.open();
        return new Promise((resolve, reject) => {
            const t = db.transaction("kv", mode);
            const req = f(t.objectStore("kv"));
            t.oncomplete = () => resolve(req.result);
            t.onerror = () => reject(t.error);
            t.onabort = () => reject(t.error);
        });
    }
    async get(key) {
        const v = await this.tx("readonly", (s) => s.get(key));
        return typeof v === "string" ? v : undefined;
    }
    async set(key, value) {
        await this.tx("readwrite", (s) => s.put(value, key));
    }
    async delete(key) {
        await this.tx("readwrite", (s) => s.delete(key));
    }
}
