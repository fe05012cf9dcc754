// Records a hash of the SDK's sources in dist/SOURCE_HASH. The Go test
// clients/web (TestSDKBuildIsFresh) computes the same hash and fails when
// the committed dist/ was built from other sources.
// Hash: sha256 over, for each file in sorted order, its path relative to
// clients/js, a NUL byte, its content and a NUL byte.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export function sourceFiles() {
  const src = readdirSync(join(root, "src")).filter((f) => f.endsWith(".ts")).map((f) => "src/" + f);
  return [...src, "package.json", "tsconfig.json"].sort();
}

export function sourceHash() {
  const h = createHash("sha256");
  for (const f of sourceFiles()) {
    h.update(f + "\0");
    h.update(readFileSync(join(root, f)));
    h.update("\0");
  }
  return h.digest("hex");
}

writeFileSync(join(root, "dist/SOURCE_HASH"), sourceHash() + "\n");
