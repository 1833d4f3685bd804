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
//   - Relative paths (key_file, data_dir, admin_socket, pid_file, lua paths)
//     are resolved against the directory of the config file.
//   - Validate checks the relations between settings (timers, node list,
//     quorum options, fencing, DNS) and is pure: it reads no files.
//     LoadKey reads and checks the cluster key file.
package config
