// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Tiny contract exercising storage writes, events, custom errors and require reverts.
contract Counter {
    uint256 public count;
    event Incremented(address indexed by, uint256 newCount);
    error TooBig(uint256 value);

    function increment() external {
        count += 1;
        emit Incremented(msg.sender, count);
    }

    function set(uint256 v) external {
        if (v > 1000) revert TooBig(v);
        count = v;
        emit Incremented(msg.sender, v);
    }

    function fail() external pure {
        require(false, "nope");
    }

    function now_() external view returns (uint256) {
        return block.timestamp;
    }
}

/// Stand-in for the Consortium: allows its owner and one stored address.
contract AllowList {
    address public owner;
    address public allowed;
    event Changed(address who);

    constructor() {
        owner = msg.sender;
    }

    function setAllowed(address a) external {
        require(msg.sender == owner, "only owner");
        allowed = a;
        emit Changed(a);
    }

    function transactionAllowed(address sender, address, uint256, uint256, uint256, bytes calldata)
        external view returns (bool)
    {
        return sender == owner || sender == allowed;
    }
}
