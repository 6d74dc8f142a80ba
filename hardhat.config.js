// Hardhat 2 config: compiles contracts/ offline with the npm `solc` (solc-js) — no compiler
// download — and names the networks coledger runs on. The Python build (`coledger build`) uses
// the same compiler version and settings; the committed artifacts come from that one.
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const SOLC_VERSION = "0.8.30";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) {
    return runSuper();
  }
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: args.solcVersion,
    longVersion: solc.version(),
  };
});

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: {
    version: SOLC_VERSION,
    // Keep in step with client/build.py (VIA_IR, OPTIMIZER_RUNS, EVM_VERSION): via-IR with a high
    // runs value cuts the opcodes executed per fund flow on the embedded py-evm node by ~30%.
    settings: { optimizer: { enabled: true, runs: 1000000 }, viaIR: true, evmVersion: "cancun" },
  },
  networks: {
    // `coledger node start` (the embedded py-evm node); chain id from its genesis. No gasPrice:
    // Hardhat's automatic fees (a 1-wei tip) are accepted and never charged, as gas is free.
    // Transactions are signed here with an admitted member's key from COLEDGER_PRIVATE_KEY
    // (the node has no unlocked accounts).
    embedded: {
      url: process.env.COLEDGER_RPC_URL || "http://127.0.0.1:8545",
      chainId: Number(process.env.COLEDGER_CHAIN_ID || 1337),
      accounts: process.env.COLEDGER_PRIVATE_KEY ? [process.env.COLEDGER_PRIVATE_KEY] : [],
    },
    // A Besu QBFT network of the consortium (one validator per institution); free gas.
    besu: {
      url: process.env.BESU_RPC_URL || "http://127.0.0.1:8545",
      chainId: Number(process.env.BESU_CHAIN_ID || 1338),
      gasPrice: 0,
    },
  },
};
