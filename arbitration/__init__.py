"""coledger arbitration service (evidence retrieval API); grows with the evidence issue."""
