// Bundle the dashboard into one directory the DashboardFunction serves: index.html, app-<hash>.js
// and style-<hash>.css (content-hashed names: cached for a year, index.html never). Everything
// comes from npm (package.json, pinned) and is bundled here: nothing is fetched at run time.
// Usage: node dashboard/build.mjs <out dir>   (prints each file's size, raw and gzipped)

import { build } from "esbuild";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, "..", "functions", "dashboard", "static"));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  entryPoints: { app: join(here, "src", "main.js"), style: join(here, "style.css") },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  entryNames: "[name]-[hash]",
  outdir: out,
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const names = {};
for (const file of Object.keys(result.metafile.outputs)) {
  const name = basename(file);
  names[name.replace(/-[A-Z0-9]+\./, ".")] = name;
}
const html = readFileSync(join(here, "index.html"), "utf8").replace(/\{\{([a-z.]+)\}\}/g, (_, name) => {
  if (!names[name]) throw new Error(`index.html names ${name}, which the build did not produce`);
  return names[name];
});
writeFileSync(join(out, "index.html"), html);

let gzipped = 0;
for (const name of readdirSync(out).sort()) {
  const bytes = readFileSync(join(out, name));
  const gz = gzipSync(bytes, { level: 9 }).length;
  gzipped += gz;
  console.log(`dashboard: ${name.padEnd(24)} ${String(bytes.length).padStart(7)} B, ${String(gz).padStart(6)} B gzipped`);
}
console.log(`dashboard: ${gzipped} B gzipped in all (goal: at most 204,800)`);
