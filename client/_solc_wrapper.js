#!/usr/bin/env node
// A solc-compatible command line over solc-js, for py-solc-x's compile_standard(solc_binary=...).
// It answers exactly two things: `--version` (in native solc's format, which py-solc-x parses)
// and `--standard-json` (standard-JSON on stdin, JSON only on stdout). The stock `solcjs` CLI
// prints an SMT notice before the JSON, which breaks the JSON parse; this wrapper does not.
// Sources must be given inline (`content`); there is no import callback, so the compiler never
// touches the file system and the build is reproducible from the input alone.
'use strict';


function loadSolc() {
  const roots = [process.env.COLEDGER_NODE_MODULES, process.cwd(), __dirname].filter(Boolean);
  const resolved = require.resolve('solc', { paths: roots });
  return require(resolved);
}

function main(argv) {
  const solc = loadSolc();
  if (argv.includes('--version')) {
    // Native format: "solc, the solidity compiler commandline interface\nVersion: 0.8.x+commit.abcdef.."
    process.stdout.write('solc, the solidity compiler commandline interface\nVersion: ' + solc.version() + '\n');
    return 0;
  }
  if (!argv.includes('--standard-json')) {
    process.stderr.write('coledger solc wrapper: only --version and --standard-json are supported\n');
    return 2;
  }
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    const input = Buffer.concat(chunks).toString('utf8');
    process.stdout.write(solc.compile(input));
  });
  return null;
}

const code = main(process.argv.slice(2));
if (code !== null) process.exitCode = code;
