// ethers v6 against the node with its defaults (no fee overrides): deploy, an estimated EIP-2930
// transaction carrying the node's eth_createAccessList answer, an estimated EIP-1559 one, a
// plain call, events by polling and by filter, eth_getBlockReceipts, and a stranger refused.
import { Contract, ContractFactory, JsonRpcProvider, Wallet } from "ethers";

import { errorText, run, settings, within } from "./common.mjs";

const WAIT_MS = 30_000;

function txFees(tx) {
  return { type: tx.type, gasPrice: tx.gasPrice, maxFeePerGas: tx.maxFeePerGas,
    maxPriorityFeePerGas: tx.maxPriorityFeePerGas, gasLimit: tx.gasLimit };
}

async function sent(txPromise) {
  const tx = await txPromise;
  const receipt = await within(WAIT_MS, `receipt of ${tx.hash}`, tx.wait());
  return { hash: tx.hash, ...txFees(tx), status: receipt.status, gasUsed: receipt.gasUsed,
    blockNumber: receipt.blockNumber };
}

async function main() {
  const s = settings();
  // cacheTimeout -1: ethers shares identical requests made within 250 ms, so on a node that
  // seals at once (block period 0) back-to-back sends would reuse the cached "pending" nonce
  const options = { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 };
  const provider = new JsonRpcProvider(s.url, s.chainId, options);
  const polling = new JsonRpcProvider(s.url, s.chainId, { ...options, polling: true });
  const member = new Wallet(s.memberKey, provider);
  const out = { member: member.address };

  const factory = new ContractFactory(s.artifact.abi, s.artifact.bytecode, member);
  const counter = await factory.deploy();
  const deployed = await within(WAIT_MS, "deployment", counter.waitForDeployment());
  const address = await deployed.getAddress();
  out.deploy = { address, ...(await sent(Promise.resolve(counter.deploymentTransaction()))) };

  out.plain = await sent(counter.increment());  // ethers picks type and fees itself

  const data = counter.interface.encodeFunctionData("increment");
  const listed = await provider.send("eth_createAccessList",
    [{ from: member.address, to: address, data }, "latest"]);
  out.accessList = listed;
  out.eip2930 = { ...(await sent(counter.increment({ type: 1, accessList: listed.accessList }))),
    accessListLength: listed.accessList.length };
  out.eip1559 = await sent(counter.increment({ type: 2 }));

  // events: contract.on over a polling provider (eth_getLogs per new block), then queryFilter
  const watcher = new Contract(address, s.artifact.abi, polling);
  const seen = new Promise((resolve) => {
    watcher.on("Incremented", (by, newCount, event) => {
      resolve({ by, newCount, txHash: event.log.transactionHash });
    });
  });
  await new Promise((resolve) => setTimeout(resolve, 300));  // let the poller take its start block
  const triggering = await sent(counter.increment());
  out.polledEvent = { ...(await within(WAIT_MS, "polled Incremented event", seen)),
    expectedTx: triggering.hash };
  await watcher.removeAllListeners();
  const logs = await counter.queryFilter(counter.filters.Incremented(member.address), 0, "latest");
  out.queryFilter = logs.map((l) => ({ newCount: l.args.newCount, txHash: l.transactionHash }));

  const blockTag = "0x" + out.eip1559.blockNumber.toString(16);
  const receipts = await provider.send("eth_getBlockReceipts", [blockTag]);
  out.blockReceipts = receipts.map((r) => ({ hash: r.transactionHash, status: r.status,
    effectiveGasPrice: r.effectiveGasPrice }));
  out.count = await counter.count();

  const stranger = new Wallet(s.strangerKey, provider);
  try {
    await (counter.connect(stranger)).increment();
    out.stranger = { refused: false };
  } catch (error) {
    out.stranger = { refused: true, address: stranger.address, error: errorText(error) };
  }
  out.balances = { member: await provider.getBalance(member.address) };
  polling.destroy();
  provider.destroy();
  return out;
}

run(main);
