# Russian texts (the default). Values come formatted: {$balance} is "10,50 ₽".

balance-line = Баланс: {$balance}
free-line = Бесплатные операции: {$left} из {$total}

topup-credited =
    Оплата получена: {$amount} зачислено на баланс.
    Баланс: {$balance}

refund-money =
    Операция не удалась, мы вернули {$amount} на баланс (возврат).
    Баланс: {$balance}
refund-free =
    Операция не удалась, мы вернули бесплатную операцию (возврат).
    Баланс: {$balance}

result-ready = Готово!
