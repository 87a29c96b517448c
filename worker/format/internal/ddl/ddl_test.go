package ddl

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		sql  string
		want Kind
	}{
		{"CREATE TABLE shop.t (id INT PRIMARY KEY)", CreateTable},
		{"create temporary table t (id int)", CreateTable},
		{"CREATE OR REPLACE TABLE t (id INT)", CreateTable},
		{"/* from a migration */ CREATE TABLE IF NOT EXISTS t (id INT)", CreateTable},
		{"-- tool\nCREATE TABLE t (id INT)", CreateTable},
		{"/*!40101 CREATE TABLE t (id INT) */", CreateTable},
		{"ALTER TABLE t ADD COLUMN x INT", AlterTable},
		{"ALTER TABLE `shop`.`t` MODIFY x BIGINT", AlterTable},
		{"ALTER ONLINE TABLE t ADD x INT", AlterTable},
		{"ALTER TABLE IF EXISTS t ADD x INT", AlterTable},
		{"ALTER TABLE t RENAME TO u", AlterTableRename},
		{"ALTER TABLE t RENAME u", AlterTableRename},
		{"ALTER TABLE t RENAME COLUMN a TO b", AlterTable},
		{"ALTER TABLE t RENAME INDEX a TO b", AlterTable},
		{"ALTER TABLE t ADD INDEX ix (a)", AlterTableAddIndex},
		{"ALTER TABLE t ADD UNIQUE KEY uk (a)", AlterTableAddIndex},
		{"ALTER TABLE t ADD CONSTRAINT uk UNIQUE (a)", AlterTableAddIndex},
		{"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id)", AlterTable},
		{"ALTER TABLE t DROP INDEX ix", AlterTableDropIndex},
		{"ALTER TABLE t DROP KEY ix", AlterTableDropIndex},
		{"ALTER TABLE t DROP COLUMN x", AlterTable},
		{"ALTER TABLE `we``ird`.t ADD INDEX (a)", AlterTableAddIndex},
		{"DROP TABLE t", DropTable},
		{"DROP TABLE IF EXISTS t, u", DropTable},
		{"DROP TEMPORARY TABLE t", DropTable},
		{"RENAME TABLE t TO u", RenameTable},
		{"TRUNCATE TABLE t", TruncateTable},
		{"TRUNCATE t", TruncateTable},
		{"CREATE INDEX ix ON t (a)", CreateIndex},
		{"CREATE UNIQUE INDEX ix ON t (a)", CreateIndex},
		{"DROP INDEX ix ON t", DropIndex},
		{"CREATE DATABASE shop", CreateDatabase},
		{"create schema if not exists shop", CreateDatabase},
		{"ALTER DATABASE shop CHARACTER SET utf8mb4", AlterDatabase},
		{"DROP DATABASE shop", DropDatabase},
		{"DROP SCHEMA IF EXISTS shop", DropDatabase},
		{"GRANT ALL ON *.* TO x", Other},
		{"", Other},
		{"/* unterminated", Other},
	}
	for _, tt := range tests {
		if got := Classify(tt.sql); got != tt.want {
			t.Errorf("Classify(%q) = %d, want %d", tt.sql, got, tt.want)
		}
	}
}
