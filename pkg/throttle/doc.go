// Package throttle simulates the throughput limits Kitaru meets on AWS, in
// virtual time, as decorators of the AWS SDK clients' HTTP transports (the
// same family as dynamotest.Faults): a request the limits would refuse is
// answered the way the service answers it, so the real SDK retryer, the
// real store and the real handlers react as they would on AWS.
//
// DynamoDB (Table): every request is analysed (keys, item sizes, read and
// write units) and charged to the budget of the partition key, or of the
// item, it touches. The rules, from the DynamoDB Developer Guide:
//
//   - "Each partition on the table can serve up to 3,000 read request units
//     or 1,000 write request units, or a linear combination of both"
//     (on-demand capacity mode; troubleshooting on-demand throttling). A
//     budget is therefore one bucket of one partition-second refilled at one
//     per second: a read unit takes 1/3,000 of it, a write unit 1/1,000.
//   - Read units: one per 4 KB of item, rounded up, for a strongly
//     consistent read; half for an eventually consistent one; two for a
//     transactional one. A read of a missing item still costs one unit
//     (half eventually). A Query costs the summed size of what it returns,
//     rounded up to 4 KB. Write units: one per 1 KB, rounded up, of the
//     larger of the item before and after the write; two for a
//     transactional one ("Read/write capacity mode", "Managing settings on
//     DynamoDB provisioned capacity tables").
//   - Adaptive capacity splits a hot partition until one partition holds a
//     single partition key, and can split a key's items by sort key, but
//     one item is never split (Developer Guide: "Best practices for designing
//     and using partition keys effectively"). Scope chooses which ceiling
//     the simulation enforces: PerPartitionKey (every item of one key
//     shares a budget: the ceiling before DynamoDB splits by sort key, and
//     the only one a Query of the key can use) or PerItem (one budget per
//     item: the ceiling after every possible split).
//   - Burst capacity (up to 300 seconds of unused capacity) is left out:
//     it is a table-level allowance of provisioned mode and never lets one
//     partition exceed 3,000 read or 1,000 write units per second, which
//     is the ceiling a hot flow meets. Budgets start full (one second of
//     units), as an idle partition would be.
//   - A throttled request is answered HTTP 400
//     ProvisionedThroughputExceededException carrying a ThrottlingReason
//     TableReadKeyRangeThroughputExceeded or
//     TableWriteKeyRangeThroughputExceeded (API Reference: ThrottlingReason;
//     "Key range throughput exceeded (hot partitions)" applies to both
//     capacity modes). A throttled TransactWriteItems or TransactGetItems is
//     cancelled as a whole, TransactionCanceledException with the
//     cancellation reason ThrottlingError on the throttled item ("There is
//     insufficient provisioned capacity for the transaction to be
//     completed"; TransactionCanceledException, API Reference). Throttled
//     requests are not applied and consume nothing.
//
// Step Functions (StartExecutions): StartExecution draws from one token
// bucket per account and Region, 1,300 tokens refilled at 300 per second
// for STANDARD state machines (Step Functions Developer Guide, "Quotas
// related to API action throttling"); EXPRESS state machines have their own,
// larger StartExecution quota (see docs/scale-sim.md). An empty bucket
// answers HTTP 400 ThrottlingException "Rate exceeded".
//
// Virtual time: the driver sets each operation's time with WithTime on the
// request's context; budgets refill by that time, never by the wall clock.
// An SDK retry of a throttled request happens, in virtual time, after the
// delay the client's own retryer draws for it; the Option that installs a
// decorator makes the client's real wait zero (see Option).
package throttle
