package ipvs

import (
	"context"
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"

	"github.com/lvsctl/lvsctl/lvs"
)

// Info reports the IPVS version and connection-table size
// (IPVS_CMD_GET_INFO).
func (c *Client) Info(ctx context.Context) (lvs.Info, error) {
	replies, err := c.do(ctx, CmdGetInfo, 0, nil)
	if err != nil {
		return lvs.Info{}, err
	}
	if len(replies) != 1 {
		return lvs.Info{}, fmt.Errorf("%s: %d replies: %w", CmdGetInfo, len(replies), errMalformed)
	}
	info, err := decodeInfo(replies[0])
	if err != nil {
		return lvs.Info{}, fmt.Errorf("%s: %w", CmdGetInfo, err)
	}
	return info, nil
}

// Services lists every virtual service with its statistics (a dump of
// IPVS_CMD_GET_SERVICE). It returns an empty slice, not nil, when there are
// none.
func (c *Client) Services(ctx context.Context) ([]lvs.Service, error) {
	replies, err := c.do(ctx, CmdGetService, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	svcs := make([]lvs.Service, 0, len(replies))
	for _, b := range replies {
		s, err := decodeServiceMessage(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", CmdGetService, err)
		}
		svcs = append(svcs, s)
	}
	return svcs, nil
}

// Service reads one virtual service (IPVS_CMD_GET_SERVICE). A missing one
// is an *Error matching lvs.ErrNoSuchService.
func (c *Client) Service(ctx context.Context, k lvs.ServiceKey) (lvs.Service, error) {
	attrs, err := encodeKey(k)
	if err != nil {
		return lvs.Service{}, fmt.Errorf("%s: %w", CmdGetService, err)
	}
	replies, err := c.do(ctx, CmdGetService, 0, attrs)
	if err != nil {
		return lvs.Service{}, err
	}
	if len(replies) != 1 {
		return lvs.Service{}, fmt.Errorf("%s: %d replies: %w", CmdGetService, len(replies), errMalformed)
	}
	s, err := decodeServiceMessage(replies[0])
	if err != nil {
		return lvs.Service{}, fmt.Errorf("%s: %w", CmdGetService, err)
	}
	return s, nil
}

// Destinations lists the destinations of one service (a dump of
// IPVS_CMD_GET_DEST), as an empty slice when it has none. The kernel
// answers a dump for a missing service with an empty list; this method
// checks and reports lvs.ErrNoSuchService instead.
func (c *Client) Destinations(ctx context.Context, k lvs.ServiceKey) ([]lvs.Destination, error) {
	attrs, err := encodeKey(k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CmdGetDest, err)
	}
	replies, err := c.do(ctx, CmdGetDest, netlink.Dump, attrs)
	if err != nil {
		return nil, err
	}
	if len(replies) == 0 {
		if _, err := c.Service(ctx, k); err != nil {
			return nil, err
		}
	}
	family, _ := serviceFamily(k.Family, k.FWMark, k.Address)
	dests := make([]lvs.Destination, 0, len(replies))
	for _, b := range replies {
		d, err := decodeDestMessage(b, family)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", CmdGetDest, err)
		}
		dests = append(dests, d)
	}
	return dests, nil
}

// Timeouts reads the TCP, TCP FIN and UDP timeouts (IPVS_CMD_GET_CONFIG).
func (c *Client) Timeouts(ctx context.Context) (lvs.Timeouts, error) {
	replies, err := c.do(ctx, CmdGetConfig, 0, nil)
	if err != nil {
		return lvs.Timeouts{}, err
	}
	if len(replies) != 1 {
		return lvs.Timeouts{}, fmt.Errorf("%s: %d replies: %w", CmdGetConfig, len(replies), errMalformed)
	}
	t, err := decodeTimeouts(replies[0])
	if err != nil {
		return lvs.Timeouts{}, fmt.Errorf("%s: %w", CmdGetConfig, err)
	}
	return t, nil
}

// SyncDaemons lists the running connection-synchronisation daemons (a dump
// of IPVS_CMD_GET_DAEMON: at most a master and a backup), as an empty slice
// when none runs.
func (c *Client) SyncDaemons(ctx context.Context) ([]lvs.SyncDaemon, error) {
	replies, err := c.do(ctx, CmdGetDaemon, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	ds := make([]lvs.SyncDaemon, 0, len(replies))
	for _, b := range replies {
		d, err := decodeDaemonMessage(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", CmdGetDaemon, err)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Exec performs one operation and waits for the kernel's answer. A refusal
// is an *Error; a request the client cannot encode matches ErrInvalid and
// is not sent.
func (c *Client) Exec(ctx context.Context, op lvs.Op) error {
	req, err := encodeOp(op)
	if err != nil {
		return fmt.Errorf("%s: %w", op.Kind, err)
	}
	_, err = c.do(ctx, req.cmd, netlink.Acknowledge, req.attrs)
	return err
}

// encodeKey encodes the identifying IPVS_CMD_ATTR_SERVICE of k.
func encodeKey(k lvs.ServiceKey) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	if err := encodeService(ae, k.Service(), false); err != nil {
		return nil, err
	}
	b, err := ae.Encode()
	if err != nil {
		return nil, errors.Join(ErrInvalid, err)
	}
	return b, nil
}
