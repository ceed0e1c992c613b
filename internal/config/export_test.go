package config

// LoadFile is loadFile, for the external tests of the file format.
func LoadFile(cfg *Config, path string) error {
	_, err := loadFile(cfg, path)
	return err
}
