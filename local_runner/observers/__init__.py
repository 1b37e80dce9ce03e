"""What watches the running system without steering it: the status board and snapshot, the
recorder, the console, progress bars. Beside the services, fed by them."""
