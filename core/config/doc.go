// Package config holds one node's configuration: the TOML schema, the
// defaults and strict validation.
//
// Contract:
//
//   - Default returns every default in one place, each with a comment; Load
//     decodes a file over those defaults, so a key left out keeps its default.
//   - Load rejects unknown keys (toml MetaData.Undecoded), values of the wrong
//     type and bad durations, then runs Validate. Every problem is reported,
//     not only the first, in line order, as "FILE:LINE: KEY: what is wrong;
//     what to do": a value of the wrong type is reported with what to write
//     ("port: want an integer such as 5420"), its line is left out and the
//     file decoded again, so later mistakes show too, and the rules do not
//     report that key again. Only a syntax error stops at the first.
//     Check is Load that also returns the configuration as far as it
//     decoded, for check-config to go on (fence devices against drivers).
//   - Relative paths (key_file, data_dir, admin_socket, pid_file, lua paths,
//     nbd socket, api token_file, tls_cert, tls_key) are resolved against
//     the directory of the config file. [nbd] socket left out is nbd.sock
//     next to admin_socket.
//   - Validate checks the relations between settings (timers, node list,
//     quorum options, fencing, DNS, DLM, NBD, API) and is pure: it reads no files.
//     Among them (issue 22): [api] listen on a non-loopback address needs
//     tls_cert and tls_key; a fence_agent device's params may not hold line
//     breaks or NUL, names may not hold '=', and action, port and nodename
//     are reserved (they are key=value lines on the agent's stdin).
//     LoadKey reads and checks the cluster key file; CheckSecretModes
//     reports secret files (SecretFiles) open to group or others, which the
//     agent refuses at start and check-config reports with 'chmod 600'.
//   - The limits on network clients (API connections and timeouts, DNS TCP
//     connections and UDP response rate) are constants in defaults.go, not
//     keys.
package config
