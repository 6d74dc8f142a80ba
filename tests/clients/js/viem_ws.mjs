// viem over the node's WebSocket transport: watchContractEvent and watchBlockNumber as
// eth_subscribe subscriptions (poll: false), a write sent over the socket, its receipt awaited.
import { createPublicClient, createWalletClient, defineChain, webSocket } from "viem";
import { privateKeyToAccount } from "viem/accounts";

import { run, settings, within } from "./common.mjs";

const WAIT_MS = 30_000;

async function main() {
  const s = settings();
  const wsUrl = s.url.replace(/^http/, "ws");
  const chain = defineChain({
    id: s.chainId, name: "coledger",
    nativeCurrency: { name: "none", symbol: "NONE", decimals: 18 },
    rpcUrls: { default: { http: [s.url], webSocket: [wsUrl] } },
  });
  const transport = webSocket(wsUrl);
  const client = createPublicClient({ chain, transport });
  const account = privateKeyToAccount(s.memberKey);
  const wallet = createWalletClient({ account, chain, transport });
  const { abi, bytecode } = s.artifact;
  const deployed = await client.waitForTransactionReceipt(
    { hash: await wallet.deployContract({ abi, bytecode }) });
  const address = deployed.contractAddress;

  let unwatchLogs, unwatchBlocks;
  const logs = new Promise((resolve, reject) => {
    unwatchLogs = client.watchContractEvent({
      address, abi, eventName: "Incremented", poll: false,
      onLogs: (found) => resolve(found.map((l) => ({ newCount: l.args.newCount,
        txHash: l.transactionHash }))),
      onError: reject,
    });
  });
  const blocks = new Promise((resolve, reject) => {
    unwatchBlocks = client.watchBlockNumber({ poll: false, onBlockNumber: resolve,
      onError: reject });
  });
  await new Promise((resolve) => setTimeout(resolve, 300));  // the subscriptions are installed
  const hash = await wallet.writeContract({ address, abi, functionName: "increment" });
  const receipt = await within(WAIT_MS, "receipt", client.waitForTransactionReceipt({ hash }));
  const out = {
    logs: await within(WAIT_MS, "subscribed Incremented event", logs), expectedTx: hash,
    block: await within(WAIT_MS, "subscribed block number", blocks),
    receiptBlock: receipt.blockNumber, status: receipt.status,
  };
  unwatchLogs();
  unwatchBlocks();
  await transport({ chain }).value.getRpcClient().then((c) => c.close()).catch(() => {});
  return out;
}

run(main);
