"""The contract and the pure kernel every part shares, station software included: the event
catalog and envelope (events/), the vocabulary, region paths, schema fields, the linkage fold,
the clock, the shape of a rule's decision, the AsyncAPI document and the station client. Nothing
here reads or writes a store; only the station client talks to a broker."""
