// ethers v6 over the node's WebSocket (same port as HTTP): a WebSocketProvider whose contract.on
// is an eth_subscribe("logs") subscription and newHeads through provider.on("block"); the member's
// transactions go over HTTP. (ethers' tx.wait() over a WebSocketProvider waits for a *later*
// newHeads; a node started with --block-period 0 may seal the block before ethers subscribes and
// then seals nothing more, so the wait would hang there — see README, JSON-RPC.)
import { ContractFactory, JsonRpcProvider, WebSocketProvider, Wallet } from "ethers";

import { run, settings, within } from "./common.mjs";

const WAIT_MS = 30_000;

async function main() {
  const s = settings();
  const provider = new WebSocketProvider(s.url.replace(/^http/, "ws"), s.chainId);
  const http = new JsonRpcProvider(s.url, s.chainId, { staticNetwork: true, cacheTimeout: -1 });
  const member = new Wallet(s.memberKey, http);
  const out = { member: member.address };
  const factory = new ContractFactory(s.artifact.abi, s.artifact.bytecode, member);
  const counter = await within(WAIT_MS, "deployment", (await factory.deploy()).waitForDeployment());
  out.address = await counter.getAddress();
  const watched = counter.connect(provider);  // the same contract, its events over the socket

  const event = new Promise((resolve) => {
    watched.on("Incremented", (by, newCount, ev) => {
      resolve({ by, newCount, txHash: ev.log.transactionHash });
    });
  });
  const block = new Promise((resolve) => provider.once("block", (n) => resolve(n)));
  await new Promise((resolve) => setTimeout(resolve, 300));  // the subscriptions are installed
  const tx = await counter.increment();
  const receipt = await within(WAIT_MS, "receipt", tx.wait());
  out.event = { ...(await within(WAIT_MS, "subscribed Incremented event", event)),
    expectedTx: tx.hash };
  out.block = { notified: await within(WAIT_MS, "newHeads block", block),
    receiptBlock: receipt.blockNumber };
  await watched.removeAllListeners();
  http.destroy();
  await provider.destroy();
  return out;
}

run(main);
