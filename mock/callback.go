package mock

import (
	"context"
	"time"

	"github.com/atelier-dev/atelier"
)

// Interface guards.
var (
	_ atelier.CallbackService = (*CallbackService)(nil)
)

// CallbackService mocks atelier.CallbackService.
type CallbackService struct {
	SetCallbackFn        func(ctx context.Context, clientID string, spec atelier.SubscriptionSpec) (*atelier.SubscriptionResult, error)
	GetCallbackFn        func(ctx context.Context, clientID string) (*atelier.Subscription, error)
	DeleteCallbackFn     func(ctx context.Context, clientID string) error
	RotateCallbackKeysFn func(ctx context.Context, clientID string, spec atelier.RotateSpec) (*atelier.SubscriptionResult, error)
	ListDeliveriesFn     func(ctx context.Context, clientID string, f atelier.DeliveryFilter) ([]*atelier.Delivery, int64, error)
	GetDeliveryFn        func(ctx context.Context, clientID, deliveryID string) (*atelier.Delivery, []*atelier.DeliveryAttempt, error)
	RedeliverFn          func(ctx context.Context, clientID, deliveryID string, since, until time.Time) (int, error)
}

// SetCallback calls SetCallbackFn.
func (s *CallbackService) SetCallback(ctx context.Context, clientID string, spec atelier.SubscriptionSpec) (*atelier.SubscriptionResult, error) {
	if s.SetCallbackFn == nil {
		panic("mock: CallbackService.SetCallback called but SetCallbackFn is not set")
	}
	return s.SetCallbackFn(ctx, clientID, spec)
}

// GetCallback calls GetCallbackFn.
func (s *CallbackService) GetCallback(ctx context.Context, clientID string) (*atelier.Subscription, error) {
	if s.GetCallbackFn == nil {
		panic("mock: CallbackService.GetCallback called but GetCallbackFn is not set")
	}
	return s.GetCallbackFn(ctx, clientID)
}

// DeleteCallback calls DeleteCallbackFn.
func (s *CallbackService) DeleteCallback(ctx context.Context, clientID string) error {
	if s.DeleteCallbackFn == nil {
		panic("mock: CallbackService.DeleteCallback called but DeleteCallbackFn is not set")
	}
	return s.DeleteCallbackFn(ctx, clientID)
}

// RotateCallbackKeys calls RotateCallbackKeysFn.
func (s *CallbackService) RotateCallbackKeys(ctx context.Context, clientID string, spec atelier.RotateSpec) (*atelier.SubscriptionResult, error) {
	if s.RotateCallbackKeysFn == nil {
		panic("mock: CallbackService.RotateCallbackKeys called but RotateCallbackKeysFn is not set")
	}
	return s.RotateCallbackKeysFn(ctx, clientID, spec)
}

// ListDeliveries calls ListDeliveriesFn.
func (s *CallbackService) ListDeliveries(ctx context.Context, clientID string, f atelier.DeliveryFilter) ([]*atelier.Delivery, int64, error) {
	if s.ListDeliveriesFn == nil {
		panic("mock: CallbackService.ListDeliveries called but ListDeliveriesFn is not set")
	}
	return s.ListDeliveriesFn(ctx, clientID, f)
}

// GetDelivery calls GetDeliveryFn.
func (s *CallbackService) GetDelivery(ctx context.Context, clientID, deliveryID string) (*atelier.Delivery, []*atelier.DeliveryAttempt, error) {
	if s.GetDeliveryFn == nil {
		panic("mock: CallbackService.GetDelivery called but GetDeliveryFn is not set")
	}
	return s.GetDeliveryFn(ctx, clientID, deliveryID)
}

// Redeliver calls RedeliverFn.
func (s *CallbackService) Redeliver(ctx context.Context, clientID, deliveryID string, since, until time.Time) (int, error) {
	if s.RedeliverFn == nil {
		panic("mock: CallbackService.Redeliver called but RedeliverFn is not set")
	}
	return s.RedeliverFn(ctx, clientID, deliveryID, since, until)
}
