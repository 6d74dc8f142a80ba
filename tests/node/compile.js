// Compile tests/node/contracts.sol with solc-js; prints {name: {abi, bytecode}} as JSON.
const fs = require('fs');
const path = require('path');
const solc = require(path.resolve(__dirname, '../../node_modules/solc'));
const src = fs.readFileSync(path.join(__dirname, 'contracts.sol'), 'utf8');
const input = {language: 'Solidity', sources: {'contracts.sol': {content: src}},
  settings: {optimizer: {enabled: true, runs: 200}, evmVersion: 'prague',
    outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}}}};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
if (out.errors && out.errors.some(e => e.severity === 'error')) {
  console.error(JSON.stringify(out.errors, null, 2)); process.exit(1);
}
const res = {};
for (const [name, c] of Object.entries(out.contracts['contracts.sol'])) {
  res[name] = {abi: c.abi, bytecode: '0x' + c.evm.bytecode.object};
}
process.stdout.write(JSON.stringify(res));
