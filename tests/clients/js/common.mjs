// Shared by the real-client scripts (one script per tool): read the driver's environment, load
// the contract artifact, bound every wait, and print one JSON report on stdout.
//
// The pytest driver (tests/clients/) starts the node and passes, in the environment (never on
// the command line, where other users could read a key): COLEDGER_RPC_URL, COLEDGER_CHAIN_ID,
// COLEDGER_MEMBER_KEY (an admitted member), COLEDGER_STRANGER_KEY (a key that is no member),
// COLEDGER_ARTIFACT (a JSON file {abi, bytecode}). argv[2] names the transport ("http"; a
// WebSocket case can be added as another transport of the same script).
import { readFileSync } from "node:fs";

export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set (the pytest driver in tests/clients/ sets it)`);
  }
  return value;
}

export function settings() {
  const transport = process.argv[2] || "http";
  if (transport !== "http") {
    throw new Error(`transport ${JSON.stringify(transport)} is not implemented (http)`);
  }
  return {
    transport,
    url: env("COLEDGER_RPC_URL"),
    chainId: Number(env("COLEDGER_CHAIN_ID")),
    memberKey: env("COLEDGER_MEMBER_KEY"),
    strangerKey: env("COLEDGER_STRANGER_KEY"),
    artifact: JSON.parse(readFileSync(env("COLEDGER_ARTIFACT"), "utf8")),
  };
}

/** Resolve with `promise`, or reject naming `what` after `ms` (a hang guard, not a timing test). */
export function within(ms, what, promise) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** JSON with bigints as decimal strings. */
export function report(value) {
  process.stdout.write(
    JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
}

/** Run `main`, print its report; on failure print the error and exit 1 (the driver shows it). */
export async function run(main) {
  try {
    report(await main());
    process.exit(0);
  } catch (error) {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  }
}

/** The node's words inside a client library's error, for the driver to check. */
export function errorText(error) {
  const parts = [error && error.message, error && error.shortMessage, error && error.details,
    error && error.info && error.info.error && error.info.error.message,
    error && error.error && error.error.message];
  return parts.filter(Boolean).join(" | ");
}
