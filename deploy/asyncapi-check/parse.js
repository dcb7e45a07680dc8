// Parse an AsyncAPI document with the AsyncAPI project's own parser (@asyncapi/parser: the
// AsyncAPI JSON Schema, the binding schemas and its Spectral rules). Reads the document on
// stdin; prints {"errors": [...], "warnings": n} and exits 1 when there is an error.
const { Parser } = require("@asyncapi/parser");

let text = "";
process.stdin.on("data", (chunk) => { text += chunk; });
process.stdin.on("end", async () => {
  const { diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === 0)
    .map((d) => ({ path: d.path.join("/"), message: d.message }));
  console.log(JSON.stringify({ errors, warnings: diagnostics.length - errors.length }));
  process.exit(errors.length ? 1 : 0);
});
