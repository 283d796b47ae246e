package ops

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// dig walks nested maps and lists: a string key indexes a map, an int a
// list. It returns nil when the path does not exist.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestEveryYAMLFileUnderDeployParses(t *testing.T) {
	var files []string
	err := filepath.WalkDir(deployPath(t), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found only %d YAML files under deploy/: %v", len(files), files)
	}
	for _, f := range files {
		if len(yamlDocs(t, f)) == 0 {
			t.Errorf("%s holds no YAML document", f)
		}
	}
}

// k8sObjects reads every manifest under deploy/kubernetes, by file.
func k8sObjects(t *testing.T) map[string][]map[string]any {
	t.Helper()
	files, err := filepath.Glob(deployPath(t, "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under deploy/kubernetes: %v", err)
	}
	out := map[string][]map[string]any{}
	for _, f := range files {
		out[filepath.Base(f)] = yamlDocs(t, f)
	}
	return out
}

func TestEveryKubernetesObjectHasAnAPIVersionAKindAndAName(t *testing.T) {
	for file, docs := range k8sObjects(t) {
		for i, doc := range docs {
			api, _ := doc["apiVersion"].(string)
			kind, _ := doc["kind"].(string)
			name, _ := dig(doc, "metadata", "name").(string)
			if api == "" || kind == "" || name == "" {
				t.Errorf("%s, document %d: apiVersion %q, kind %q, metadata.name %q", file, i+1, api, kind, name)
				continue
			}
			if ns, _ := dig(doc, "metadata", "namespace").(string); kind != "Namespace" && ns != "relais" {
				t.Errorf("%s: %s/%s is in namespace %q, want relais", file, kind, name, ns)
			}
		}
	}
}

// find returns the object of kind and name among all manifests.
func find(t *testing.T, objects map[string][]map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, docs := range objects {
		for _, doc := range docs {
			if doc["kind"] == kind && dig(doc, "metadata", "name") == name {
				return doc
			}
		}
	}
	t.Fatalf("no %s named %s in deploy/kubernetes", kind, name)
	return nil
}

func TestKubernetesRunsThreeProbedHubsAThreeNodeRabbitMQAndPostgreSQL(t *testing.T) {
	objects := k8sObjects(t)
	hub := find(t, objects, "StatefulSet", "relais-hub")
	if n := dig(hub, "spec", "replicas"); n != 3 {
		t.Errorf("relais-hub replicas = %v, want 3", n)
	}
	container := dig(hub, "spec", "template", "spec", "containers", 0)
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"} {
		if got := dig(container, probe, "httpGet", "path"); got != path {
			t.Errorf("hub %s path = %v, want %s", probe, got, path)
		}
	}
	env := map[string]any{}
	for _, e := range dig(container, "env").([]any) {
		env[dig(e, "name").(string)] = e
	}
	for name, secret := range map[string]string{"PGPASSWORD": "relais-postgres", "RELAIS_BROKER": "relais-broker"} {
		if got := dig(env[name], "valueFrom", "secretKeyRef", "name"); got != secret {
			t.Errorf("hub env %s comes from %v, want secret %s", name, got, secret)
		}
	}
	if got := dig(env["RELAIS_INSTANCE"], "valueFrom", "fieldRef", "fieldPath"); got != "metadata.name" {
		t.Errorf("RELAIS_INSTANCE = %v, want the pod name", got)
	}
	var keySecret any
	for _, v := range dig(hub, "spec", "template", "spec", "volumes").([]any) {
		if dig(v, "name") == "hub-keys" {
			keySecret = dig(v, "secret", "secretName")
		}
	}
	if keySecret != "relais-hub-keys" {
		t.Errorf("the hub keys come from %v, want the secret relais-hub-keys", keySecret)
	}
	if got := dig(container, "securityContext", "allowPrivilegeEscalation"); got != false {
		t.Errorf("hub allowPrivilegeEscalation = %v", got)
	}

	rabbit := find(t, objects, "StatefulSet", "rabbitmq")
	if n := dig(rabbit, "spec", "replicas"); n != 3 {
		t.Errorf("rabbitmq replicas = %v, want 3", n)
	}
	pg := find(t, objects, "StatefulSet", "postgres")
	if dig(pg, "spec", "volumeClaimTemplates", 0, "metadata", "name") != "data" {
		t.Errorf("postgres keeps no persistent volume")
	}
	for _, svc := range []string{"relais-hub", "rabbitmq", "rabbitmq-nodes", "postgres"} {
		find(t, objects, "Service", svc)
	}
}

// The RabbitMQ peers named in deploy/rabbitmq/rabbitmq.conf must be the
// Compose hostnames, and the Kubernetes override must name the
// StatefulSet's pods: a mismatch leaves every node waiting for peers.
func TestRabbitMQPeerNamesMatchTheNodesThatRun(t *testing.T) {
	peers := func(path string) []string {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(strings.TrimSpace(k), "cluster_formation.classic_config.nodes.") {
				out = append(out, strings.TrimSpace(v))
			}
		}
		return out
	}
	compose := yamlDocs(t, deployPath(t, "compose", "compose.yaml"))[0]
	var hosts []string
	for name, svc := range compose["services"].(map[string]any) {
		if strings.HasPrefix(name, "rabbit-") && name != "rabbit-init" {
			hosts = append(hosts, "rabbit@"+dig(svc, "hostname").(string))
		}
	}
	slices.Sort(hosts)
	if got := peers(deployPath(t, "rabbitmq", "rabbitmq.conf")); !slices.Equal(got, hosts) {
		t.Errorf("rabbitmq.conf peers %v, Compose nodes %v", got, hosts)
	}

	rabbit := find(t, k8sObjects(t), "StatefulSet", "rabbitmq")
	service := dig(rabbit, "spec", "serviceName").(string)
	var pods []string
	for i := range dig(rabbit, "spec", "replicas").(int) {
		pods = append(pods, fmt.Sprintf("rabbit@rabbitmq-%d.%s.relais.svc.cluster.local", i, service))
	}
	if got := peers(deployPath(t, "kubernetes", "rabbitmq-kubernetes.conf")); !slices.Equal(got, pods) {
		t.Errorf("rabbitmq-kubernetes.conf peers %v, StatefulSet pods %v", got, pods)
	}
}

func TestTheKustomizationAppliesEveryManifestAndExistingFiles(t *testing.T) {
	k := yamlDocs(t, deployPath(t, "kustomization.yaml"))[0]
	var listed []string
	for _, r := range k["resources"].([]any) {
		listed = append(listed, r.(string))
	}
	manifests, _ := filepath.Glob(deployPath(t, "kubernetes", "*.yaml"))
	for _, m := range manifests {
		if rel := "kubernetes/" + filepath.Base(m); !slices.Contains(listed, rel) {
			t.Errorf("%s is not listed in deploy/kustomization.yaml", rel)
		}
	}
	var files []string
	for _, g := range k["configMapGenerator"].([]any) {
		for _, f := range dig(g, "files").([]any) {
			_, path, _ := strings.Cut(f.(string), "=")
			files = append(files, path)
		}
	}
	for _, f := range append(listed, files...) {
		if _, err := os.Stat(deployPath(t, f)); err != nil {
			t.Errorf("deploy/kustomization.yaml names %s: %v", f, err)
		}
	}
	if !slices.Contains(files, "rabbitmq/definitions.json") || !slices.Contains(files, "rabbitmq/rabbitmq.conf") {
		t.Errorf("the RabbitMQ ConfigMap is not generated from deploy/rabbitmq: %v", files)
	}
}

func TestComposeRunsThreeHealthCheckedHubsThreeRabbitMQNodesAndPostgreSQL(t *testing.T) {
	compose := yamlDocs(t, deployPath(t, "compose", "compose.yaml"))[0]
	services := compose["services"].(map[string]any)
	for _, name := range []string{"hub-1", "hub-2", "hub-3"} {
		svc := services[name]
		test := fmt.Sprint(dig(svc, "healthcheck", "test"))
		if !strings.Contains(test, "/readyz") {
			t.Errorf("%s health check %s does not probe /readyz", name, test)
		}
		if got := dig(svc, "environment", "RELAIS_INSTANCE"); got != name {
			t.Errorf("%s RELAIS_INSTANCE = %v", name, got)
		}
		if store, _ := dig(svc, "environment", "RELAIS_STORE").(string); !strings.HasPrefix(store, "postgres://") || strings.Contains(store, ":@") || regexp.MustCompile(`//[^/@]*:[^/@]*@`).MatchString(store) {
			t.Errorf("%s RELAIS_STORE %q: want a postgres:// URL without a password", name, store)
		}
	}
	for _, name := range []string{"rabbit-1", "rabbit-2", "rabbit-3"} {
		mounts := fmt.Sprint(dig(services[name], "volumes"))
		for _, shared := range []string{"../rabbitmq/rabbitmq.conf", "../rabbitmq/definitions.json"} {
			if !strings.Contains(mounts, shared) {
				t.Errorf("%s does not mount %s", name, shared)
			}
		}
	}
	if services["postgres"] == nil {
		t.Error("no postgres service")
	}
	for name, s := range compose["secrets"].(map[string]any) {
		if f, _ := dig(s, "file").(string); !strings.HasPrefix(f, "secrets/") {
			t.Errorf("secret %s is read from %q, outside the git-ignored secrets/ folder", name, f)
		}
	}
}

// unitDirectives reads a systemd unit into directive → values.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

func TestTheSystemdUnitsAreHardened(t *testing.T) {
	for unit, exec := range map[string]string{"relais-hub.service": "/usr/local/bin/relais serve", "relais-agent.service": "/usr/local/bin/relais inbox"} {
		t.Run(unit, func(t *testing.T) {
			d := unitDirectives(t, deployPath(t, "systemd", unit))
			want := map[string]string{
				"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
				"PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes", "MemoryDenyWriteExecute": "yes",
				"SystemCallArchitectures": "native", "LockPersonality": "yes",
			}
			for k, v := range want {
				if got := d[k]; len(got) != 1 || got[0] != v {
					t.Errorf("%s=%v, want %q", k, got, v)
				}
			}
			if len(d["User"]) != 1 || d["User"][0] == "" || d["User"][0] == "root" {
				t.Errorf("User=%v: want one unprivileged user", d["User"])
			}
			if len(d["StateDirectory"]) != 1 {
				t.Errorf("StateDirectory=%v", d["StateDirectory"])
			}
			if um := d["UMask"]; len(um) != 1 || !strings.HasSuffix(um[0], "7") {
				t.Errorf("UMask=%v: others must get nothing", um)
			}
			if len(d["ExecStart"]) != 1 || !strings.HasPrefix(d["ExecStart"][0], exec) {
				t.Errorf("ExecStart=%v, want %s…", d["ExecStart"], exec)
			}
		})
	}
}

// systemd's own assessment, where systemd-analyze is installed: both units
// must stay in its "OK" band (exposure below 2.5 of 10).
func TestSystemdRatesTheUnitsExposureLow(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; TestTheSystemdUnitsAreHardened checks the directives")
	}
	for _, unit := range []string{"relais-hub.service", "relais-agent.service"} {
		out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=25", deployPath(t, "systemd", unit)).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security %s: %v\n%s", unit, err, lastLines(string(out), 3))
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestTheGrafanaDashboardIsImportable(t *testing.T) {
	raw, err := os.ReadFile(deployPath(t, "grafana", "relais.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Inputs []struct {
			Name string `json:"name"`
		} `json:"__inputs"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr       string `json:"expr"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("relais.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" {
		t.Errorf("uid %q, title %q, inputs %+v: want a uid, a title and one Prometheus input", d.UID, d.Title, d.Inputs)
	}
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if strings.TrimSpace(q.Expr) == "" || q.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q: query %q on datasource %q", p.Title, q.Expr, q.Datasource.UID)
			}
		}
	}
	if queries < 20 {
		t.Errorf("the dashboard has %d queries", queries)
	}
}
