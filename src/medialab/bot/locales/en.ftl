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

## Menus

start-greeting =
    Hi, {$name}! I create and edit images with neural networks.
    An operation costs {$price}; new users get {$total} free operations. Text on a photo is always free.
start-choose = Choose a mode:

button-generate = 🎨 Create from a description
button-edit = ✏️ Edit a photo
button-merge = 🧩 Merge photos
button-face-swap = 🎭 Swap a face
button-retouch = ✨ Retouch
button-upscale = 🔍 Upscale
button-add-text = 🔤 Text on a photo (free)
button-payment-menu = 💰 Pay / Balance
button-topup = Top up balance
button-custom-amount = Another amount
button-payment-cancel = Cancel
button-pay = Pay {$amount}
button-merge-go = Merge ({$count} photos)

help =
    What I can do:
    🎨 Create from a description — a picture from text.
    ✏️ Edit a photo — a photo and what to change.
    🧩 Merge photos — two or more photos into one.
    🎭 Swap a face — two photos: the face and where to put it.
    ✨ Retouch and 🔍 upscale — one photo.
    🔤 Text on a photo — a photo and a text, free.

    An operation costs {$price}; new users get {$free} free operations. If an operation fails, you get the money or the free operation back.
    A chosen mode stays until you change it: every new description or photo is a new operation.

    Commands: /start — menu, /balance — balance, /history — balance history, /cancel — leave the mode, /promo CODE — redeem a promo code, /invite — your invitation link, /help — this help.
cancel-done = Cancelled. Menu: /start
cancel-nothing = Nothing to cancel. Menu: /start
no-mode = Choose a mode in the menu first: /start
stale-button = This button no longer works. Menu: /start

price-line = Price of an operation: {$price}
price-range = from {$lowest} to {$highest}
button-mode-price = {$mode} · {$price}

## Payments

payment-menu-choose = Choose how much to top up:
payment-custom-ask = Enter the amount in rubles — a whole number from {$min} to {$max}.
amount-cancel-hint = To leave, send /cancel.
amount-empty = No amount given. Write a whole number of rubles from {$min} to {$max}, e.g. 500.
amount-not-number = That is not an amount. Write it in digits, e.g. 500 (from {$min} to {$max}).
amount-fraction = The amount must be a whole number of rubles, without kopecks, e.g. 500.
amount-negative = The amount must be positive: from {$min} to {$max}.
amount-too-small = Too little: the smallest top-up is {$min}.
amount-too-large = Too much: the largest top-up is {$max}.
amount-not-text = Send the amount as text, e.g. 500.
payment-cancelled = Top-up cancelled.
topup-link = Your invoice for {$amount} is ready. Press the button to pay: the money reaches your balance as soon as you have paid.
payments-unavailable = Payments are unavailable right now. Please try again a little later.

## Modes

mode-generate = Mode “Create from a description”. Describe in one message what to draw. Every description is a new operation. Leave — /cancel.
mode-edit = Mode “Edit a photo”. Send a photo with a caption saying what to change (or a photo, then a text). Leave — /cancel.
mode-merge = Mode “Merge photos”. Send 2 to {$max} photos, then press “Merge” or write how to merge them. Leave — /cancel.
mode-face-swap = Mode “Swap a face”. Send two photos: first the one with the face, then the one to put it in. Leave — /cancel.
mode-retouch = Mode “Retouch”. Send a photo. Leave — /cancel.
mode-upscale = Mode “Upscale”. Send a photo. Leave — /cancel.
mode-add-text = Mode “Text on a photo” (free). Send a photo with a caption: it becomes the text on the picture (or a photo, then a text). Leave — /cancel.

need-prompt = I need a text description: write in words what to draw.
need-photo = Send a photo (as a photo, not as a file).
need-instruction = Got the photo. Now write what to change in it.
need-overlay-text = Got the photo. Now write the text to put on it.
merge-photo-added = Photo added, {$count} in all. Send more or press “Merge”.
merge-first-photo = Photo added, 1 in all. Send at least one more.
merge-need-more = Merging needs at least two photos; there are {$count}. Send more.
merge-too-many = At most {$max} photos can be merged at once. Press “Merge” or /cancel.
face-swap-got-face = Got the photo with the face. Now send the photo to put it in.

## Operations

operation-started = Got it! Working on the image; the result will come here.
operation-paid-free = A free operation was used; {$left} of {$total} left.
operation-paid-money = Charged {$price}.
operation-free-type = This operation is free.
operation-not-started = The operation could not be started; the charge was cancelled. Please try again.
insufficient-funds = Not enough money: the operation costs {$price}. Top up to go on.
too-many-in-flight = {$in_flight} of your operations are running already (at most {$limit} at once). Wait for a result and send again.

## Telegram Stars

button-stars = ⭐ {$stars}
stars-invoice-title = Balance top-up of {$amount}
stars-invoice-description = {$stars} ⭐ put {$amount} on your balance for image operations.
stars-invoice-label = Top-up of {$amount}
stars-package-unknown = There is no such Stars package. Choose one in the payment menu: /start
stars-refused-unknown = This invoice was not found. Open the payment menu again: /start
stars-refused-amount = The amount does not match the invoice. Open the payment menu again: /start
stars-refused-closed = This invoice has already been paid. For a new top-up open the payment menu: /start
stars-payment-problem = The payment arrived but does not match our invoice, so your balance was not changed. Send /paysupport and we will sort it out.
paysupport =
    Help with payments.
    A top-up by card (YooKassa) or with Telegram Stars reaches your balance as soon as it is paid; check it with /balance.
    If money or Stars were taken but your balance did not change, or you want a Stars payment refunded, write to us with the date, the amount and how you paid. A Stars refund takes the credited amount off your balance.
paysupport-contact = Payment support: {$contact}
private-chat-only = I work in private chats only: open a chat with me and send /start.
stars-refunded = Your Stars payment was refunded: {$amount} taken off your balance.

## Promo codes and invitations

promo-usage = Send the code after the command, e.g. /promo SUMMER25.
promo-bad-code = That is not a promo code: a code is 3 to 32 Latin letters, digits, "_" or "-".
promo-refused-unknown = There is no promo code {$code}. Check the spelling.
promo-refused-disabled = The promo code {$code} no longer works.
promo-refused-expired = The promo code {$code} has expired.
promo-refused-used-up = The promo code {$code} has been used up.
promo-refused-already-redeemed = You have already used the promo code {$code}.
promo-redeemed = Promo code {$code} accepted!
promo-gift-money = {$amount} added to your balance.
promo-gift-free = Free operations added: {$count}.
invite-link =
    Invite friends: when someone who started the bot with your link first tops up, you get {$bonus}.
    Your link: {$link}
invite-off = Invitations are not available right now.
referral-bonus =
    A friend you invited topped up: {$amount} added to your balance.
    Balance: {$balance}

## Balance history (/history): dates in UTC, in the user's language

history-title = Balance history (UTC times):
history-empty = No balance movements yet. Top up: /balance
history-no-older = There are no earlier balance movements.
history-line = {DATETIME($date, dateStyle: "medium", timeStyle: "short", timeZone: "UTC")} — {$what}: {$amount}, balance {$balance}
history-what = { $kind ->
    [topup] Top-up
    [charge] Payment, {$operation}
    [refund] Refund, {$operation}
    [grant] Adjustment by support
    [chargeback] Top-up reversed
    [promo] Promo code
    [referral] Referral bonus
    [clawback] Referral bonus taken back
   *[other] Balance change
}
button-history-older = ⬅️ Earlier
