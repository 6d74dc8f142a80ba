"""The node as a validator of a consortium network: CometBFT orders, py-evm executes.

Ethereum block N is CometBFT height N. CometBFT (a separate Go process, built from the Go module
proxy on first use) runs Byzantine-fault-tolerant consensus among the institutions' validators;
this package is the ABCI 2.0 application it drives over a Unix socket, the block producer that
forwards raw transactions to it, and the tools to lay out, run and supervise a network.
"""
