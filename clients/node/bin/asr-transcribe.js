#!/usr/bin/env node
// The CLI compiled from src/cli.ts (`make node-client` builds dist/).
"use strict";
let cli;
try {
  cli = require("../dist/cli.js");
} catch (error) {
  if (error.code !== "MODULE_NOT_FOUND") throw error;
  process.stderr.write("error: the Node client is not built; run `make node-client` at the repository root\n");
  process.exit(2);
}
process.on("SIGINT", () => process.exit(cli.EXIT.interrupted));
// exit as soon as the call is over: an unread stdin must not keep the process alive
cli.main(process.argv.slice(2)).then((code) => process.exit(code));
