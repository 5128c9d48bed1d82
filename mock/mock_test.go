package mock_test

import (
	"context"
	"testing"

	"github.com/atelier-dev/atelier/mock"
)

func TestUnsetFieldPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("calling an unset field did not panic")
		}
	}()
	var s mock.ObjectService
	_, _ = s.ListBuckets(context.Background())
}

func TestSetFieldIsCalled(t *testing.T) {
	called := false
	s := mock.AuthService{LogoutFn: func(ctx context.Context, token string) error {
		called = token == "t"
		return nil
	}}
	if err := s.Logout(context.Background(), "t"); err != nil || !called {
		t.Fatalf("Logout: err=%v called=%v", err, called)
	}
}
