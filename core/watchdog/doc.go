// Package watchdog is watchdog self-fencing (corral help design,
// "Fencing", G4; SBD style): a watchdog outside the corral
// process resets the node unless it is fed, and the node feeds it only
// while it holds its lease, so survivors may count a node that left the
// view as fenced once (T_lease + W)·(1+ρ) + margin passed (core/fence).
//
//	f, err := watchdog.Open(path)  // [fence] watchdog: a device file or a supervisor's socket
//	f.Feed()                        // every heartbeat while membership says the lease holds
//	f.Disarm()                      // a clean leave: the magic close 'V'
//	f.Close()                       // any other stop: it stays armed
//
// path is either a watchdog device (the kernel's softdog, /dev/watchdog, or
// hardware: opening it arms it, each write feeds it, and it is never
// disarmed: a process that dies stops feeding and the machine resets) or
// the Unix datagram socket of a Supervisor, the process that plays the
// watchdog in tests (`corral watchdog --socket PATH --timeout W --pid PID`):
// it is armed when it starts and SIGKILLs the node's process (and its
// process group) when W passes without a feed, and stops without a kill
// when it gets 'V' (Disarm). A node stopped without a clean leave (crash,
// fatal error, self-fence) never disarms: survivors count on the watchdog
// to have reset it W after its last feed. Tests never open
// /dev/watchdog: that arms it, and a kill would reboot the machine.
package watchdog
