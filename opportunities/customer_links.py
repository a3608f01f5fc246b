"""What opportunities register with the customers app (customers.hooks): a customer with
opportunities is not deleted; its open opportunities move with it when it is transferred
with its related records (won and lost ones stay with their owner); on a merge they go to
the kept customer."""

from customers import hooks
from opportunities.services.opportunities import (
    customer_delete_refusal,
    merge_into_customer,
    transfer_open_of_customers,
)

hooks.register_delete_check(customer_delete_refusal, moves_on_merge=True)
hooks.register_related_transfer(transfer_open_of_customers)
hooks.register_merge_related(merge_into_customer)
