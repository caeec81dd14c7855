# English texts, for users whose Telegram language is English.

balance-line = Balance: {$balance}
free-line = Free operations: {$left} of {$total}

topup-credited =
    Payment received: {$amount} added to your balance.
    Balance: {$balance}

refund-money =
    The operation failed; {$amount} went back to your balance (refund).
    Balance: {$balance}
refund-free =
    The operation failed; your free operation was given back (refund).
    Balance: {$balance}

result-ready = Done!
