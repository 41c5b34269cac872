"""The tamper-evident audit trail, HTTP-free: one hash chain per node (chain.py), appended in
group commits (store.py), signed checkpoints of each chain's head (checkpoint.py), and the check
of the whole trail (verify.py, `lifeline audit verify`); the record of an access (access.py), a
write's made in the write's own transaction (outbox.py)."""
