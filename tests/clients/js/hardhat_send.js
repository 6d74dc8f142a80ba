// Run by `hardhat run --no-compile --network embedded` (tests/clients/test_hardhat.py): send one
// transaction through Hardhat 2's provider stack with its defaults — local signing with the
// configured member key, automatic gas and automatic EIP-1559 fees (Hardhat never offers a tip
// below 1 wei) — and print the receipt and what Hardhat offered. COLEDGER_TARGET is the contract
// to call, COLEDGER_DATA the calldata.
const hre = require("hardhat");

const WAIT_MS = 30000;

async function main() {
  const provider = hre.network.provider;
  const [from] = await provider.request({ method: "eth_accounts" });
  const hash = await provider.request({
    method: "eth_sendTransaction",
    params: [{ from, to: process.env.COLEDGER_TARGET, data: process.env.COLEDGER_DATA }],
  });
  const deadline = Date.now() + WAIT_MS;
  let receipt = null;
  while (receipt === null) {
    if (Date.now() > deadline) throw new Error(`no receipt for ${hash} after ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    receipt = await provider.request({ method: "eth_getTransactionReceipt", params: [hash] });
  }
  const tx = await provider.request({ method: "eth_getTransactionByHash", params: [hash] });
  process.stdout.write(JSON.stringify({ from, hash, receipt, tx }) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
