package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// orgNotFound is the answer for an organization that does not exist or that
// the caller may not see.
func orgNotFound(id string) error {
	return atelier.CodeOrgNotFound.Errorf("The organization %q does not exist.", id)
}

// lookupOrg returns the organization id if p may see it.
func (s *Service) lookupOrg(ctx context.Context, p *atelier.Principal, id string) (*atelier.Organization, error) {
	o, err := s.st.GetOrg(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sees(p, o.TenantID)) {
		return nil, orgNotFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("identity: get org: %w", err)
	}
	return o, nil
}

// checkParent checks that parentID ("" = a root) is an organization of
// tenantID.
func (s *Service) checkParent(ctx context.Context, tenantID, parentID string) error {
	if parentID == "" {
		return nil
	}
	o, err := s.st.GetOrg(ctx, parentID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && o.TenantID != tenantID) {
		return atelier.CodeOrgNotFound.Errorf("The parent organization %q does not exist in the tenant.", parentID).WithField("parent_id")
	} else if err != nil {
		return fmt.Errorf("identity: get parent org: %w", err)
	}
	return nil
}

// CreateOrg creates an organization under parentID ("" = a root) in
// tenantID ("" = the caller's). Names are unique among siblings.
func (s *Service) CreateOrg(ctx context.Context, tenantID, name, parentID string) (_ *atelier.Organization, err error) {
	ev := &atelier.AuditEvent{Action: "org.create"}
	defer s.record(ctx, ev, &err)
	_, tenantID, err = s.tenantScope(ctx, tenantID, false)
	ev.TenantID = tenantID
	if err != nil {
		return nil, err
	}
	if name, err = checkName("name", "organization name", name, true); err != nil {
		return nil, err
	}
	parentID = strings.TrimSpace(parentID)
	if err := s.checkParent(ctx, tenantID, parentID); err != nil {
		return nil, err
	}
	now := s.now()
	o := &atelier.Organization{ID: atelier.NewID(), TenantID: tenantID, ParentID: parentID, Name: name, CreatedAt: now, UpdatedAt: now}
	if err := s.insertOrg(ctx, o); err != nil {
		return nil, storeError("create org", err, atelier.Code{}, atelier.CodeOrgExists)
	}
	ev.Target = o.ID
	return o, nil
}

// ListOrgs returns the organizations of tenantID ("" = the caller's),
// ordered by name; admins and the tenant's apps may.
func (s *Service) ListOrgs(ctx context.Context, tenantID string) ([]*atelier.Organization, error) {
	tenantID, err := s.listScope(ctx, tenantID, true)
	if err != nil {
		return nil, err
	}
	orgs, err := s.st.ListOrgs(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("identity: list orgs: %w", err)
	}
	if orgs == nil {
		orgs = []*atelier.Organization{}
	}
	return orgs, nil
}

// GetOrg returns an organization; admins and the tenant's apps may.
func (s *Service) GetOrg(ctx context.Context, id string) (*atelier.Organization, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.lookupOrg(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := mayRead(p, o.TenantID, orgNotFound(id)); err != nil {
		return nil, err
	}
	return o, nil
}

// UpdateOrg renames an organization (name set) or moves it under another
// parent (parentID set; "" makes it a root). A move under itself or its own
// descendants gives CodeOrgCycle. The cycle check reads the tree before the
// write: two concurrent moves of different organizations are not
// serialised against each other.
func (s *Service) UpdateOrg(ctx context.Context, id string, name, parentID *string) (_ *atelier.Organization, err error) {
	ev := &atelier.AuditEvent{Action: "org.update", Target: id}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	o, err := s.lookupOrg(ctx, p, id)
	if err != nil {
		return nil, err
	}
	ev.TenantID = o.TenantID
	if err := mayManage(p, o.TenantID, orgNotFound(id)); err != nil {
		return nil, err
	}
	if name != nil {
		n, err := checkName("name", "organization name", *name, true)
		if err != nil {
			return nil, err
		}
		name = &n
	}
	if parentID != nil {
		pid := strings.TrimSpace(*parentID)
		parentID = &pid
		if err := s.checkParent(ctx, o.TenantID, pid); err != nil {
			return nil, err
		}
		if err := s.checkCycle(ctx, o, pid); err != nil {
			return nil, err
		}
	}
	now := s.now()
	o, err = s.updateOrg(ctx, o.ID, now, func(o *atelier.Organization) error {
		if name != nil {
			o.Name = *name
		}
		if parentID != nil {
			o.ParentID = *parentID
		}
		o.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, storeError("update org", err, atelier.CodeOrgNotFound, atelier.CodeOrgExists)
	}
	return o, nil
}

// checkCycle returns CodeOrgCycle when parentID is o or one of its
// descendants.
func (s *Service) checkCycle(ctx context.Context, o *atelier.Organization, parentID string) error {
	orgs, err := s.st.ListOrgs(ctx, o.TenantID)
	if err != nil {
		return fmt.Errorf("identity: list orgs: %w", err)
	}
	parent := make(map[string]string, len(orgs))
	for _, x := range orgs {
		parent[x.ID] = x.ParentID
	}
	// Walk up from the new parent; the tree has at most len(orgs) levels,
	// which also ends the walk should the stored tree hold a cycle already.
	for id, n := parentID, 0; id != "" && n <= len(orgs); id, n = parent[id], n+1 {
		if id == o.ID {
			return atelier.CodeOrgCycle.Errorf("The organization %s cannot move under itself or one of its descendants.", o.ID).WithField("parent_id")
		}
	}
	return nil
}

// DeleteOrg deletes an organization without sub-organizations or users.
func (s *Service) DeleteOrg(ctx context.Context, id string) (err error) {
	ev := &atelier.AuditEvent{Action: "org.delete", Target: id}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	o, err := s.lookupOrg(ctx, p, id)
	if err != nil {
		return err
	}
	ev.TenantID = o.TenantID
	if err := mayManage(p, o.TenantID, orgNotFound(id)); err != nil {
		return err
	}
	if err := s.deleteOrg(ctx, o.ID, s.now()); err != nil {
		if errors.Is(err, store.ErrNotEmpty) {
			return atelier.CodeOrgNotEmpty.Errorf("The organization %s still has sub-organizations or users; move or delete them first.", o.ID)
		}
		return storeError("delete org", err, atelier.CodeOrgNotFound, atelier.Code{})
	}
	return nil
}
