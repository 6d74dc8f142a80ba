// viem with its defaults against the node (no fee overrides): deploy and write with the wallet
// client's own fee and gas estimates, waitForTransactionReceipt, createAccessList and an
// EIP-2930 write carrying it, getContractEvents (eth_getLogs), watchContractEvent polling over
// HTTP, getBlockReceipts, and a stranger refused.
import { createPublicClient, createWalletClient, defineChain, encodeFunctionData, http }
  from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { errorText, run, settings, within } from "./common.mjs";

const WAIT_MS = 30_000;

async function main() {
  const s = settings();
  const chain = defineChain({
    id: s.chainId, name: "coledger",
    nativeCurrency: { name: "none", symbol: "NONE", decimals: 18 },
    rpcUrls: { default: { http: [s.url] } },
  });
  const transport = http(s.url);
  const client = createPublicClient({ chain, transport, pollingInterval: 100 });
  const account = privateKeyToAccount(s.memberKey);
  const wallet = createWalletClient({ account, chain, transport });
  const { abi, bytecode } = s.artifact;
  const out = { member: account.address };

  async function mined(hash) {
    const receipt = await within(WAIT_MS, `receipt of ${hash}`,
      client.waitForTransactionReceipt({ hash, pollingInterval: 100 }));
    const tx = await client.getTransaction({ hash });
    return { hash, status: receipt.status, type: receipt.type, gasUsed: receipt.gasUsed,
      gas: tx.gas, gasPrice: tx.gasPrice, maxFeePerGas: tx.maxFeePerGas,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas, blockNumber: receipt.blockNumber,
      contractAddress: receipt.contractAddress };
  }

  out.deploy = await mined(await wallet.deployContract({ abi, bytecode }));
  const address = out.deploy.contractAddress;
  out.write = await mined(await wallet.writeContract({ address, abi, functionName: "increment" }));

  const data = encodeFunctionData({ abi, functionName: "increment" });
  out.accessList = await client.createAccessList({ account, to: address, data });
  out.eip2930 = await mined(await wallet.writeContract({
    address, abi, functionName: "increment", type: "eip2930",
    accessList: out.accessList.accessList }));

  // watchContractEvent, polling over HTTP (a filter, or eth_getLogs where filters fail)
  let unwatch;
  const seen = new Promise((resolve, reject) => {
    unwatch = client.watchContractEvent({
      address, abi, eventName: "Incremented", poll: true, pollingInterval: 100,
      onLogs: (logs) => resolve(logs.map((l) => ({ newCount: l.args.newCount,
        txHash: l.transactionHash }))),
      onError: reject,
    });
  });
  await new Promise((resolve) => setTimeout(resolve, 300));  // let the watcher install itself
  const trigger = await mined(await wallet.writeContract({ address, abi,
    functionName: "increment" }));
  out.watched = { logs: await within(WAIT_MS, "watched Incremented event", seen),
    expectedTx: trigger.hash };
  unwatch();

  const logs = await client.getContractEvents({ address, abi, eventName: "Incremented",
    args: { by: account.address }, fromBlock: 0n });
  out.getLogs = logs.map((l) => ({ newCount: l.args.newCount, txHash: l.transactionHash }));
  const receipts = await client.getBlockReceipts({ blockNumber: out.eip2930.blockNumber });
  out.blockReceipts = receipts.map((r) => ({ hash: r.transactionHash, status: r.status }));
  out.count = await client.readContract({ address, abi, functionName: "count" });

  const stranger = privateKeyToAccount(s.strangerKey);
  try {
    await wallet.writeContract({ account: stranger, address, abi, functionName: "increment" });
    out.stranger = { refused: false };
  } catch (error) {
    out.stranger = { refused: true, address: stranger.address, error: errorText(error) };
  }
  out.balances = { member: await client.getBalance({ address: account.address }) };
  return out;
}

run(main);
