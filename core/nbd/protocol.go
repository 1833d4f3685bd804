package nbd

// Wire constants of NBD's doc/proto.md (fixed newstyle negotiation and
// the transmission phase with simple and structured replies).

const (
	magicNBD       = 0x4e42444d41474943 // "NBDMAGIC"
	magicOpt       = 0x49484156454f5054 // "IHAVEOPT"
	magicOptReply  = 0x0003e889045565a9
	magicRequest   = 0x25609513
	magicSimple    = 0x67446698
	magicStructure = 0x668e33ef
)

// Handshake flags (server) and client flags.
const (
	flagFixedNewstyle = 1 << 0
	flagNoZeroes      = 1 << 1

	clientFixedNewstyle = 1 << 0
	clientNoZeroes      = 1 << 1
)

// Options.
const (
	optExportName      = 1
	optAbort           = 2
	optList            = 3
	optStartTLS        = 5
	optInfo            = 6
	optGo              = 7
	optStructuredReply = 8
	optListMetaContext = 9
	optSetMetaContext  = 10
)

// Option reply types.
const (
	repAck          = 1
	repServer       = 2
	repInfo         = 3
	repMetaContext  = 4
	repErrUnsup     = 1<<31 + 1
	repErrPolicy    = 1<<31 + 2
	repErrInvalid   = 1<<31 + 3
	repErrUnknown   = 1<<31 + 6
	repErrShutdown  = 1<<31 + 7
	repErrBlockReqd = 1<<31 + 8
	repErrTooBig    = 1<<31 + 9
)

// NBD_INFO types.
const (
	infoExport      = 0
	infoName        = 1
	infoDescription = 2
	infoBlockSize   = 3
)

// Transmission flags.
const (
	tflagHasFlags      = 1 << 0
	tflagReadOnly      = 1 << 1
	tflagSendFlush     = 1 << 2
	tflagSendFUA       = 1 << 3
	tflagSendTrim      = 1 << 5
	tflagSendZeroes    = 1 << 6
	tflagSendDF        = 1 << 7
	tflagCanMultiConn  = 1 << 8
	tflagSendCache     = 1 << 10
	tflagSendFastZero  = 1 << 11
	tflagsAlwaysServed = tflagHasFlags | tflagSendFlush | tflagSendFUA | tflagSendTrim | tflagSendZeroes | tflagSendFastZero
)

// Commands.
const (
	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdTrim        = 4
	cmdCache       = 5
	cmdWriteZeroes = 6
	cmdBlockStatus = 7
	numCommands    = 8
)

// Command flags.
const (
	cmdFlagFUA      = 1 << 0
	cmdFlagNoHole   = 1 << 1
	cmdFlagDF       = 1 << 2
	cmdFlagReqOne   = 1 << 3
	cmdFlagFastZero = 1 << 4
)

// Structured reply chunk types and flags.
const (
	replyFlagDone = 1 << 0

	chunkNone        = 0
	chunkOffsetData  = 1
	chunkError       = 1<<15 + 1
	chunkErrorOffset = 1<<15 + 2
)

// Limits of the negotiation phase.
const (
	maxNameLen   = 4096    // NBD's string limit for names
	maxOptionLen = 1 << 16 // longer option data is discarded (NBD_REP_ERR_TOO_BIG)
	// maxOptionDrop: an option longer than this drops the connection
	// instead of being read and discarded.
	maxOptionDrop = 1 << 24
	// DefaultInFlight is the number of requests of one connection the
	// server runs at once (more wait in the socket).
	DefaultInFlight = 64
)

var cmdNames = [numCommands]string{"read", "write", "disc", "flush", "trim", "cache", "write_zeroes", "block_status"}
